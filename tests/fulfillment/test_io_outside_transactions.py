"""No I/O inside a database transaction (the house rule): queuing a Celery task, sending an email, posting a webhook and
rendering a PDF each happen once the change has committed (transaction.on_commit) or in the worker, never while a
transaction holds its rows. An order goes from signing to delivery, a refill and a renewal are asked, and every such
call records whether a transaction was open at that moment."""

from __future__ import annotations

import datetime as dt
import types

import pytest
from celery.app.task import Task
from django.core.mail import EmailMessage
from django.db import connection

from fulfillment import documents, order_print, records, rendering, tracking
from fulfillment.models import CompoundingRecord, EmailOutbox, WebhookDelivery, WebhookEndpoint, Worksheet
from fulfillment.notifications import emails, webhooks
from portal import outbound
from tests.builders import released_job

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: on_commit runs, and an open transaction is visible


@pytest.fixture
def io_calls(monkeypatch):
    """Each I/O call: (what, whether a transaction was open)."""
    calls: list[tuple[str, bool]] = []

    def queued(self, *args, **kwargs):
        calls.append((f"queue {self.name}", connection.in_atomic_block))

    real_send, real_render = EmailMessage.send, documents.render_pdf

    def send(self, *args, **kwargs):
        calls.append(("email", connection.in_atomic_block))
        return real_send(self, *args, **kwargs)

    def render(html):
        calls.append(("pdf", connection.in_atomic_block))
        return real_render(html)

    def post(url, **kwargs):
        calls.append(("webhook", connection.in_atomic_block))
        return types.SimpleNamespace(status=200)

    monkeypatch.setattr(Task, "apply_async", queued)  # .delay() too; nothing reaches a broker
    monkeypatch.setattr(EmailMessage, "send", send)
    monkeypatch.setattr(documents, "render_pdf", render)
    monkeypatch.setattr(order_print, "render_pdf", render)
    monkeypatch.setattr(outbound, "post", post)
    return calls


def test_no_email_webhook_task_or_pdf_while_a_transaction_is_open(api_as, rivera, staff, ready, io_calls):
    WebhookEndpoint.objects.create(clinic=rivera.clinic, url="https://ehr.example.test/hooks", secret="s" * 32, created_by=rivera.user,
                                   event_types=["order.status_changed", "preparation.status_changed", "shipment.tracking_updated",
                                                "refill.requested", "renewal.requested"])
    order, job = released_job(api_as, rivera, staff, refills=0)
    for worksheet in Worksheet.objects.all():
        rendering.worksheet_render(worksheet_id=worksheet.pk)  # what the worker runs
    for record in CompoundingRecord.objects.all():
        assert records.record_pdf_render(record_id=record.pk).pdf_sha256
    shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                        "tracking_number": "SIM-IO-01"}, format="json")
    assert shipped.status_code == 201, shipped.json()
    tracking.shipments_poll(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))  # the simulated carrier delivers
    prep = order["preparations"][0]["id"]
    assert staff["tech"].post(f"/api/v1/preparations/{prep}/refills/", {}, format="json").status_code == 409  # asks a renewal
    for pk in EmailOutbox.objects.values_list("pk", flat=True):  # the worker's side
        emails.email_send(message_id=pk)
    for pk in WebhookDelivery.objects.values_list("pk", flat=True):
        webhooks.webhook_deliver(delivery_id=pk)

    kinds = {what.split(" ")[0] for what, _open in io_calls}
    assert {"queue", "email", "webhook", "pdf"} <= kinds, io_calls  # each kind of I/O happened
    assert [what for what, in_transaction in io_calls if in_transaction] == []
