"""F4 (issue 17, finding 4): the webhook address filter accepted 100.64.0.0/10 (100.100.100.200 is a
cloud metadata address), 192.0.0.192 and 6to4 forms of loopback even in production, and resolved the
name twice (check, then connect). Now only public internet addresses are accepted, in every IPv6
disguise, and a delivery resolves once and connects to the address it checked (keeping the Host
header). No request in these tests leaves the machine: connections are intercepted or go to loopback."""

import socket
from unittest import mock

import pytest
from django.test import override_settings

from fulfillment.models import WebhookDelivery, WebhookEndpoint
from fulfillment.notifications import webhooks
from tests.builders import Receiver, approve, submit

pytestmark = pytest.mark.django_db
NOT_PUBLIC = [
    "https://100.100.100.200/latest/meta-data/", "https://100.64.0.1/", "https://192.0.0.192/", "https://[2002:7f00:1::]/",
    "https://[::ffff:127.0.0.1]/", "https://[64:ff9b::a9fe:a9fe]/", "https://[::127.0.0.1]/", "https://198.18.0.1/",
    "https://224.0.0.1/", "https://[fd00::1]/", "https://169.254.169.254/", "https://10.0.0.5/", "https://127.0.0.1/",
]


@override_settings(WEBHOOK_ALLOW_INSECURE=False)  # production's policy
@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_every_non_public_address_is_refused_at_registration(api_as, rivera, url):
    response = api_as(rivera.user).post("/api/v1/webhooks/", {"url": url, "event_types": ["order.status_changed"]}, format="json")
    assert response.status_code == 400, url
    assert "private address" in str(response.json()["error"]["fields"]["url"])
    assert not WebhookEndpoint.objects.exists()


def test_a_url_that_cannot_be_sent_is_refused_at_registration(api_as, rivera):
    """`http://127.0.0.1:58999/\u202e` was accepted, then failed every delivery (UnicodeEncodeError)."""
    response = api_as(rivera.user).post("/api/v1/webhooks/", {"url": "http://127.0.0.1:58999/\u202e", "event_types": ["order.status_changed"]},
                                        format="json")
    assert response.status_code == 400 and "ASCII" in str(response.json()["error"]["fields"]["url"])


def _one_delivery(api_as, rivera, staff, url):
    with mock.patch("portal.outbound.resolve", return_value="127.0.0.1"):  # registration's own check
        endpoint = api_as(rivera.user).post("/api/v1/webhooks/", {"url": url, "event_types": ["order.status_changed"]}, format="json")
    assert endpoint.status_code == 201, endpoint.json()
    approve(staff, submit(api_as, rivera))
    return WebhookDelivery.objects.filter(endpoint__public_id=endpoint.json()["id"]).order_by("pk").first(), endpoint.json()


@override_settings(WEBHOOK_ALLOW_INSECURE=False)
def test_a_delivery_resolves_once_and_connects_to_the_address_it_checked(api_as, rivera, staff, ready):
    delivery, _ = _one_delivery(api_as, rivera, staff, "https://hooks.platform.example/in")
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))],
                    [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))]])  # a rebinding name's second answer
    with mock.patch("portal.outbound._lookup", side_effect=lambda *a, **k: next(answers)) as lookup, \
            mock.patch("portal.outbound._connect", side_effect=ConnectionRefusedError("intercepted")) as connect:
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    assert lookup.call_count == 1  # one lookup …
    assert connect.call_args.args[:2] == ("93.184.216.34", 443)  # … and the connection goes to the address it checked
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "intercepted" in delivery.last_error


@override_settings(WEBHOOK_ALLOW_INSECURE=False)
def test_a_name_that_now_points_inside_is_refused_without_connecting(api_as, rivera, staff, ready):
    delivery, _ = _one_delivery(api_as, rivera, staff, "https://hooks.platform.example/in")
    inside = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("100.100.100.200", 443))]
    with mock.patch("portal.outbound._lookup", return_value=inside), mock.patch("portal.outbound._connect") as connect:
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    assert not connect.called
    delivery.refresh_from_db()
    assert "private address" in delivery.last_error


def test_the_pinned_connection_keeps_the_name_in_the_host_header(api_as, rivera, staff, ready):
    holder = {}
    receiver = Receiver(holder)
    port = receiver.url.split(":")[2].split("/")[0]
    seen = []
    original = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler):
        seen.append(handler.headers["Host"])
        original(handler)

    receiver.server.RequestHandlerClass.do_POST = do_post
    try:
        delivery, endpoint = _one_delivery(api_as, rivera, staff, f"http://receiver.platform.example:{port}/hooks")
        holder["secret"] = endpoint["secret"]
        loopback = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]
        with mock.patch("portal.outbound._lookup", return_value=loopback):
            webhooks.webhook_deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "sent" and seen == [f"receiver.platform.example:{port}"] and all(receiver.verified)
    finally:
        receiver.close()


def test_the_pdf_renderer_fetches_nothing_at_all():
    """The portal's only other would-be fetcher: WeasyPrint's, which refuses every URL."""
    from fulfillment.documents import DenyAllFetcher

    with pytest.raises(ValueError, match="blocked"):
        DenyAllFetcher().fetch("http://100.100.100.200/latest/meta-data/")
