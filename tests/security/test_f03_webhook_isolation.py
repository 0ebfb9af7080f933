"""F3 (issue 17, finding 3): one clinic could stall every clinic's notifications: endpoints per clinic
were not capped (25 accepted), and three receivers that never answer held the shared worker 10 s per
delivery. Now: at most WEBHOOK_ENDPOINTS_PER_CLINIC endpoints; webhooks on their own queue and pool;
short timeouts; one delivery at a time per endpoint (a second steps aside at once, spending no
attempt); a circuit breaker that pauses a failing endpoint without delaying any other. The timing
proof with real workers is tests/integration/test_webhook_isolation.py."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.utils import timezone

from fulfillment.models import WebhookDelivery, WebhookEndpoint
from fulfillment.notifications import webhooks
from tests.builders import Receiver, approve, submit


def _register(api, url):
    return api.post("/api/v1/webhooks/", {"url": url, "event_types": ["order.status_changed"]}, format="json")


@pytest.mark.django_db
def test_a_clinic_may_have_at_most_ten_endpoints(api_as, rivera, chen, client, password):
    assert settings.WEBHOOK_ENDPOINTS_PER_CLINIC == 10
    api = api_as(rivera.user)
    for i in range(10):
        assert _register(api, f"http://127.0.0.1:9/hook-{i}").status_code == 201
    refused = _register(api, "http://127.0.0.1:9/hook-11")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_many_endpoints"
    assert "at most 10" in refused.json()["error"]["message"]
    assert WebhookEndpoint.objects.filter(clinic=rivera.clinic).count() == 10
    assert _register(api_as(chen.user), "http://127.0.0.1:9/chen").status_code == 201  # another clinic is not affected


def test_webhooks_have_their_own_queue_apart_from_emails_and_worksheets():
    routes = settings.CELERY_TASK_ROUTES
    assert routes["fulfillment.notifications.tasks.deliver_webhook"]["queue"] == "webhooks"
    assert routes["fulfillment.notifications.tasks.send_email"]["queue"] != "webhooks"
    assert routes["fulfillment.tasks.render_worksheet"]["queue"] == "pdf"
    assert settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS <= 5 and settings.WEBHOOK_TIMEOUT_SECONDS <= 10


class SlowReceiver:
    """Accepts, waits `delay` seconds, then answers 200; counts requests and the most seen at once."""

    def __init__(self, delay):
        self.count = self.now = self.most = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.count += 1
                    receiver.now += 1
                    receiver.most = max(receiver.most, receiver.now)
                time.sleep(delay)
                with receiver.lock:
                    receiver.now -= 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_gets_one_delivery_at_a_time_and_a_busy_one_steps_aside_at_once(api_as, rivera, staff, ready):
    from django.db import connection

    slow = SlowReceiver(delay=2)
    try:
        assert _register(api_as(rivera.user), slow.url).status_code == 201
        for first in ("Ann", "Bea", "Cal"):
            approve(staff, submit(api_as, rivera, first=first))
        ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
        assert len(ids) >= 3
        took = {}

        def deliver(pk):
            started = time.monotonic()
            webhooks.webhook_deliver(delivery_id=pk)
            took[pk] = time.monotonic() - started
            connection.close()

        threads = [threading.Thread(target=deliver, args=(pk,)) for pk in ids[:3]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        rows = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=ids[:3])}
        sent = [pk for pk, d in rows.items() if d.status == "sent"]
        assert slow.most == 1 and slow.count == 1 and len(sent) == 1  # one at a time
        for pk, row in rows.items():
            if pk not in sent:  # the others stepped aside at once: no attempt spent, no worker held for the wait
                assert row.status == "pending" and row.attempts == 0 and took[pk] < 1.5
    finally:
        slow.close()


@pytest.mark.django_db
def test_the_circuit_breaker_pauses_a_failing_endpoint_and_no_other(api_as, rivera, staff, ready, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0] * 20
    failing_holder, healthy_holder = {}, {}
    failing, healthy = Receiver(failing_holder, answer=500), Receiver(healthy_holder)
    try:
        failing_holder["secret"] = _register(api_as(rivera.user), failing.url).json()["secret"]
        healthy_holder["secret"] = _register(api_as(rivera.user), healthy.url).json()["secret"]
        for first in ("Ann", "Bea"):
            approve(staff, submit(api_as, rivera, first=first))
        for _ in range(settings.WEBHOOK_BREAKER_FAILURES + 3):
            for delivery in WebhookDelivery.objects.filter(status="pending"):
                WebhookDelivery.objects.filter(pk=delivery.pk, endpoint__url=failing.url).update(next_attempt_at=timezone.now())
                WebhookDelivery.objects.filter(pk=delivery.pk, endpoint__url=healthy.url).update(next_attempt_at=timezone.now())
                webhooks.webhook_deliver(delivery_id=delivery.pk)
        assert len(failing.received) == settings.WEBHOOK_BREAKER_FAILURES  # then paused: no more requests
        paused = WebhookDelivery.objects.filter(endpoint__url=failing.url, status="pending")
        assert paused.exists() and all("paused" in d.last_error and d.next_attempt_at > timezone.now() for d in paused)
        assert WebhookDelivery.objects.filter(endpoint__url=healthy.url).exclude(status="sent").count() == 0  # the other kept going
    finally:
        failing.close()
        healthy.close()
