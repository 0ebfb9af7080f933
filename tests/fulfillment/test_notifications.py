"""Patients and partners hear back: the status link and page, emails from the outbox, signed webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import secrets

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from fulfillment.models import EmailOutbox, WebhookDelivery, WebhookEndpoint, WebhookEvent
from fulfillment.notifications import emails, webhooks
from orders.models import Order, PatientLink
from orders.patient_links import link_token, patient_link_current
from tests.builders import Receiver, approve, released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def approved_order(api_as, rivera, staff, **kw):
    order = submit(api_as, rivera, **kw)
    approve(staff, order)
    db_order = Order.objects.get(public_id=order["id"])
    return order, db_order, link_token(patient_link_current(order=db_order))


def send_all_emails():
    for message in EmailOutbox.objects.filter(status="pending"):
        emails.email_send(message_id=message.pk)


# --- The status link and page --------------------------------------------------------------

def test_approval_makes_a_link_stored_only_as_a_hash_and_emails_it(api_as, rivera, staff, ready):
    order, db_order, token = approved_order(api_as, rivera, staff)
    link = PatientLink.objects.get(order=db_order)
    assert len(base64.urlsafe_b64decode(token + "=")) * 8 >= 128
    assert token not in json.dumps(list(PatientLink.objects.values()), default=str)  # only the salt and hash
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert api_as(rivera.user).get(f"/api/v1/orders/{order['id']}/").json()["patient_status_url"].endswith(f"/s/{token}/")
    assert not EmailOutbox.objects.filter(order=db_order, template="patient_approved").exists()  # the patient had no email address
    db_order.patient.email = "maya@example.test"
    db_order.patient.save()
    from fulfillment.notifications.outbox import email_queue

    email_queue(template="patient_approved", to="maya@example.test", order=db_order)
    send_all_emails()
    sent = [m for m in mail.outbox if m.to == ["maya@example.test"]]
    assert sent and f"/s/{token}/" in sent[-1].body and sent[-1].alternatives[0][1] == "text/html"


def test_dob_check_then_the_timeline(client, api_as, rivera, staff, ready):
    order, db_order, token = approved_order(api_as, rivera, staff)
    url = f"/s/{token}/"
    first = client.get(url)
    assert first.status_code == 200 and "confirm your date of birth" in first.content.decode()
    for header, value in (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"), ("X-Robots-Tag", "noindex, nofollow")):
        assert value in first[header]
    for wrong in ("1991-04-13", "04/12/1991", "12.04.1991", "<script>"):
        page = client.post(url, {"date_of_birth": wrong}).content.decode()
        assert "That does not match our records." in page and "Lopez" not in page
        client.cookies.clear()
        from django.core.cache import cache

        cache.clear()
    # Walk #25: an empty date is not "wrong"; a future date says so (neither gives anything away).
    for given, words in (("", "Enter your date of birth."), ("  ", "Enter your date of birth."),
                         ("2099-01-01", "That date is in the future: enter your date of birth.")):
        page = client.post(url, {"date_of_birth": given}).content.decode()
        assert words in page and "does not match" not in page and "Lopez" not in page
    ok = client.post(url, {"date_of_birth": "1991-04-12"}, follow=True)
    page = ok.content.decode()
    assert "Hello Maya" in page and "Lopez" not in page  # first name only
    assert "Checked by the pharmacist" in page and "Waiting to be made" in page


def test_tracking_and_bud_appear_once_shipped(client, api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-PT-0001"}, format="json")
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    page = client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, follow=True).content.decode()
    assert "Simulated Express, tracking number SIM-PT-0001" in page and "Use by" in page
    assert "/track/" not in page  # the simulated carrier has no tracking page to link to and "Store at 20–25 °C or in a refrigerator" in page


def test_revoked_cancelled_malformed_and_long_tokens_are_one_plain_not_found(client, api_as, rivera, staff, ready):
    order, db_order, token = approved_order(api_as, rivera, staff)
    other, other_db, other_token = approved_order(api_as, rivera, staff, first="Bo")
    api_as(rivera.user).post(f"/api/v1/orders/{other['id']}/cancel/", {}, format="json")
    sign_in(client, rivera.user, "correct-horse-battery-9")
    client.post(f"/orders/{order['id']}/patient-link/revoke/")
    client.logout()
    pages = []
    for bad in (token, other_token, "x", "A" * 43, "A" * 500, "%00", "../../etc/passwd", token[:-1] + "!"):
        response = client.get(f"/s/{bad}/")
        assert response.status_code == 404, bad
        pages.append(response.content.decode())
    assert len(set(pages)) == 1 and "not found or has expired" in pages[0]


def test_a_link_expires_30_days_after_delivery(client, api_as, rivera, staff, ready, settings):
    from fulfillment import tracking
    from fulfillment.models import Shipment
    from orders.patient_links import patient_link_resolve

    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-EXP-001"}, format="json")
    shipment = Shipment.objects.get(tracking_number="SIM-EXP-001")
    tracking.shipments_poll(now=shipment.shipped_at + dt.timedelta(hours=1))
    shipment.refresh_from_db()
    token = link_token(patient_link_current(order=shipment.orders.get()))
    assert patient_link_resolve(token, now=shipment.delivered_at + dt.timedelta(days=29)) is not None
    assert patient_link_resolve(token, now=shipment.delivered_at + dt.timedelta(days=31)) is None


def test_dob_attempts_are_limited_per_link(client, api_as, rivera, staff, ready):
    order, db_order, token = approved_order(api_as, rivera, staff)
    for _ in range(5):
        assert client.post(f"/s/{token}/", {"date_of_birth": "2000-01-01"}).status_code == 200
    assert client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}).status_code == 429  # even the right one, for a while


def test_ten_thousand_random_tokens_all_404_the_limit_engages_and_no_token_is_logged(client, api_as, rivera, staff, ready, caplog,
                                                                                     capfd):
    from portal.logfilters import RedactPatientTokens

    handler_filter = RedactPatientTokens()
    caplog.handler.addFilter(handler_filter)
    caplog.set_level(logging.DEBUG)
    tokens = [secrets.token_urlsafe(32) for _ in range(10_000)]
    statuses = []
    for index, token in enumerate(tokens):
        # a different client address every 25 requests: each token is looked up for real
        statuses.append(client.get(f"/s/{token}/", REMOTE_ADDR=f"10.{index // 6400}.{(index // 25) % 256}.1").status_code)
    assert set(statuses) == {404}
    limited = [client.get(f"/s/{secrets.token_urlsafe(32)}/", REMOTE_ADDR="203.0.113.9").status_code for _ in range(40)]
    assert limited[:30] == [404] * 30 and set(limited[30:]) == {429}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    printed = "".join(capfd.readouterr())  # what the configured handlers wrote to the console
    assert "/s/[redacted]" in logged
    assert not any(token in logged or token in printed for token in tokens[:: 50])


def test_gunicorn_access_log_is_redacted():
    from portal.logfilters import redact

    line = 'GET /s/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd/ HTTP/1.1'
    assert redact(line) == "GET /s/[redacted]/ HTTP/1.1"


# --- Emails ---------------------------------------------------------------------------------

def test_prescriber_hears_of_a_clarification_request_by_email(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/request-clarification/", {"question": "Which arm? <b>now</b>"}, format="json")
    send_all_emails()
    message = next(m for m in mail.outbox if m.to == [rivera.user.email])
    assert order["number"] in message.subject and "Which arm? <b>now</b>" in message.body
    assert "&lt;b&gt;now&lt;/b&gt;" in message.alternatives[0][0]  # escaped in the HTML part


def test_no_outbox_row_survives_a_rolled_back_change(api_as, rivera, staff, ready):
    from django.db import transaction

    order = submit(api_as, rivera)
    db_order = Order.objects.get(public_id=order["id"])
    before = (EmailOutbox.objects.count(), WebhookEvent.objects.count())
    with pytest.raises(RuntimeError), transaction.atomic():
        from orders.services import order_request_clarification
        from portal.models import User

        order_request_clarification(order=db_order, by=User.objects.get(username="pharm"), question="?")
        raise RuntimeError("the change fails after its notifications were written")
    assert (EmailOutbox.objects.count(), WebhookEvent.objects.count()) == before


# --- Webhooks -------------------------------------------------------------------------------

def register(api_as, rivera, url, types=("order.status_changed", "preparation.status_changed", "shipment.tracking_updated")):
    response = api_as(rivera.user).post("/api/v1/webhooks/", {"url": url, "event_types": list(types)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def deliver_due():
    for delivery in WebhookDelivery.objects.filter(status="pending"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        webhooks.webhook_deliver(delivery_id=delivery.pk)


def test_signed_deliveries_with_retries_recorded_once_in_sequence(api_as, rivera, staff, ready):
    holder = {}
    receiver = Receiver(holder, fail_first=3)
    try:
        endpoint = register(api_as, rivera, receiver.url)
        holder["secret"] = endpoint["secret"]
        assert "secret" not in api_as(rivera.user).get("/api/v1/webhooks/").json()[0]  # shown once
        order, job = released_job(api_as, rivera, staff)
        for _ in range(6):
            deliver_due()
        assert all(receiver.verified) and len(receiver.verified) == len(receiver.received)
        unique = {}
        for item in receiver.received:
            unique.setdefault(item["id"], item)
        first = receiver.received[0]["id"]
        attempts = [r["attempt"] for r in receiver.received if r["id"] == first]
        assert attempts == [1, 2, 3, 4]  # three 500s, then delivered and marked as the fourth attempt
        assert WebhookDelivery.objects.filter(status="sent").count() == len(unique)
        sequences = [item["body"]["data"]["sequence"] for item in sorted(unique.values(), key=lambda i: i["body"]["data"]["sequence"])]
        assert sequences == list(range(1, len(sequences) + 1))
        assert all("patient" not in json.dumps(item["body"]).lower() and "Maya" not in json.dumps(item["body"]) for item in unique.values())
        types = {item["body"]["type"] for item in unique.values()}
        assert types == {"order.status_changed", "preparation.status_changed"}
    finally:
        receiver.close()


def test_a_410_disables_the_endpoint_and_the_schedule_ends_in_a_dead_letter(api_as, rivera, staff, ready, settings):
    holder = {}
    gone = Receiver(holder, answer=410)
    try:
        holder["secret"] = register(api_as, rivera, gone.url)["secret"]
        approve(staff, submit(api_as, rivera))
        deliver_due()
        endpoint = WebhookEndpoint.objects.get(url=gone.url)
        assert not endpoint.active and "410" in endpoint.disabled_reason
        assert WebhookDelivery.objects.filter(endpoint=endpoint, status="dead").exists()
    finally:
        gone.close()
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    settings.WEBHOOK_BREAKER_FAILURES = 100  # the schedule is under test here, not the circuit breaker (tests/security/test_f03_…)
    failing = Receiver(holder, answer=500)
    try:
        holder["secret"] = register(api_as, rivera, failing.url)["secret"]
        approve(staff, submit(api_as, rivera, first="Bo"))
        for _ in range(4):
            deliver_due()
        delivery = WebhookDelivery.objects.filter(endpoint__url=failing.url).order_by("pk").first()
        assert delivery.status == "dead" and delivery.attempts == 3 and "gave up" in delivery.last_error
        redelivered = api_as(rivera.user).post(f"/api/v1/webhooks/deliveries/{delivery.public_id}/redeliver/")
        assert redelivered.status_code == 202 and redelivered.json()["status"] == "pending"
    finally:
        failing.close()


@pytest.mark.parametrize("url", ["http://10.0.0.5/hook", "https://192.168.1.20/hook", "https://169.254.169.254/latest", "ftp://x.example/",
                                 "not a url"])
def test_private_and_odd_urls_are_refused(api_as, rivera, ready, url):
    response = api_as(rivera.user).post("/api/v1/webhooks/", {"url": url, "event_types": ["order.status_changed"]}, format="json")
    assert response.status_code == 400 and "url" in response.json()["error"]["fields"]


@override_settings(WEBHOOK_ALLOW_INSECURE=False)
def test_outside_development_only_https_to_public_addresses(api_as, rivera, ready):
    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook"):
        response = api_as(rivera.user).post("/api/v1/webhooks/", {"url": url, "event_types": ["order.status_changed"]}, format="json")
        assert response.status_code == 400, url


def test_event_feed_pages_with_a_cursor_and_is_scoped(api_as, rivera, chen, staff, ready):
    approve(staff, submit(api_as, rivera))
    first = api_as(rivera.user).get("/api/v1/events/").json()
    assert first["events"] and all(e["data"]["order_number"].startswith("RX-") for e in first["events"])
    assert api_as(rivera.user).get(f"/api/v1/events/?after={first['next_cursor']}").json()["events"] == []
    assert api_as(chen.user).get("/api/v1/events/").json()["events"] == []
    assert api_as(rivera.user).get("/api/v1/events/?after=abc").status_code == 400


def test_webhooks_page_shows_the_secret_once(client, rivera, password, ready):
    sign_in(client, rivera.user, password)
    page = client.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "event_types": ["order.status_changed"]}).content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in page
    assert endpoint.secret not in client.get("/webhooks/").content.decode()
    refused = client.post("/webhooks/", {"url": "http://10.1.2.3/hook", "event_types": ["order.status_changed"]}, follow=True)
    assert "private address" in refused.content.decode() and WebhookEndpoint.objects.count() == 1


def test_other_clinics_cannot_see_webhooks(api_as, rivera, chen, ready):
    endpoint = register(api_as, rivera, "http://127.0.0.1:9/hook")
    assert api_as(chen.user).get(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 404
    assert api_as(chen.user).delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 404
    assert api_as(rivera.user).delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204
