"""The outbox: what a change tells the outside world, written in the change's own transaction —
webhook events (with a delivery per interested endpoint) and emails. Celery delivers after commit; a
beat relay re-sends whatever is due, so a broker outage or a lost message delays a notification but
never loses it. Webhook payloads carry ids, the caller's external_id, statuses and a per-order
sequence number: never patient data. What an email needs beyond the order is put in its row's
payload here, when it is queued."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from fulfillment.fhir.events import event_bundle
from fulfillment.fhir.events import fill as fill_fhir_payload
from fulfillment.models import EmailOutbox, OutboxStatus, PayloadFormat, WebhookDelivery, WebhookEndpoint, WebhookEvent
from fulfillment.notifications.tasks import deliver_webhook, send_email
from orders.services import order_webhook_sequence_next


def _enqueue_after_commit(task, pk: int) -> None:
    transaction.on_commit(lambda: task.delay(pk), robust=True)


def event_emit(*, order, type: str, data: dict) -> WebhookEvent:
    """Record an event for the order's clinic, numbered from the order's counter (under its row lock),
    and queue a delivery to each endpoint that wants it. No savepoint of its own: it is written with the change or not at
    all (an error undoes the caller's change)."""
    with transaction.atomic(savepoint=False):
        sequence = order_webhook_sequence_next(order=order)
        event_id = f"evt_{secrets.token_hex(12)}"
        payload = {
            "id": event_id,
            "type": type,
            "timestamp": timezone.now().isoformat(),
            "data": {"order_id": str(order.public_id), "order_number": order.number, "external_id": order.external_id,
                     "sequence": sequence, **data},
        }
        endpoints = [e for e in WebhookEndpoint.objects.filter(clinic_id=order.clinic_id, active=True) if type in e.event_types]
        fhir_payload = None
        if any(e.payload_format == PayloadFormat.FHIR for e in endpoints):
            fhir_payload = event_bundle(event_id=event_id, type=type, sequence=sequence, timestamp=payload["timestamp"], order=order,
                                        data=data)
        event = WebhookEvent.objects.create(public_id=event_id, clinic_id=order.clinic_id, order=order, type=type, sequence=sequence,
                                            payload=payload, fhir_payload=fhir_payload)
        if fhir_payload is None and any(e.payload_format == PayloadFormat.FHIR for e in endpoints):
            # The order's first event comes before its preparations exist: its Bundle is built as soon as they are
            # committed, before any delivery is queued (on_commit runs in order); the delivery builds it if this was lost.
            transaction.on_commit(lambda: fill_fhir_payload(event.pk), robust=True)
        now = timezone.now()
        # One INSERT for every endpoint's delivery, however many endpoints want the event.
        for delivery in WebhookDelivery.objects.bulk_create([WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now)
                                                             for endpoint in endpoints]):
            _enqueue_after_commit(deliver_webhook, delivery.pk)
    return event


def email_queue(*, template: str, to: str, order, job=None, payload: dict | None = None) -> EmailOutbox | None:
    if not to:
        return None
    message = EmailOutbox.objects.create(template=template, to=to, order=order, job=job, payload=payload or {},
                                         next_attempt_at=timezone.now())
    _enqueue_after_commit(send_email, message.pk)
    return message


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again now (a person asked): a fresh attempt, whatever happened before."""
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(status=OutboxStatus.SENDING).update(
        status=OutboxStatus.PENDING, next_attempt_at=timezone.now())
    _enqueue_after_commit(deliver_webhook, delivery.pk)
    delivery.refresh_from_db()
    return delivery
