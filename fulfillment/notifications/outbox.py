"""What a change tells the outside world, written in the change's own transaction (the outbox):
webhook events for the clinic's platforms, and emails to the patient and the prescriber.

Celery delivers after commit; a beat relay re-sends whatever is due, so a broker outage or a
lost message delays a notification but never loses it. Webhook payloads carry ids, the
caller's external_id, statuses and a per-order sequence number: never patient data."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fulfillment.fhir.events import event_bundle
from fulfillment.fhir.events import fill as fill_fhir_payload
from fulfillment.models import EmailOutbox, OutboxStatus, PayloadFormat, WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES = ("order.status_changed", "preparation.status_changed", "shipment.tracking_updated", "job.on_hold", "job.resumed",
               "refill.requested", "refill.released", "prescription.depleted", "renewal.requested", "renewal.approved", "renewal.denied")
ORDER_STATUS_KINDS = {"signed", "approved", "rejected", "cancelled", "clarification_requested", "clarification_answered", "amended",
                      "status_changed"}
PRESCRIBER_EMAILS = {"clarification_requested": "prescriber_clarification", "rejected": "prescriber_rejected"}


def _enqueue_after_commit(task, pk: int) -> None:
    transaction.on_commit(lambda: task.delay(pk), robust=True)


def event_emit(*, order, type: str, data: dict) -> WebhookEvent:
    """Record an event for the order's clinic and queue a delivery to each endpoint that wants it."""
    from fulfillment.notifications.tasks import deliver_webhook

    sequence = WebhookEvent.objects.filter(order=order).count() + 1
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
    for endpoint in endpoints:
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=now)
        _enqueue_after_commit(deliver_webhook, delivery.pk)
    return event


def email_queue(*, template: str, to: str, order, job=None) -> EmailOutbox | None:
    from fulfillment.notifications.tasks import send_email

    if not to:
        return None
    message = EmailOutbox.objects.create(template=template, to=to, order=order, job=job, next_attempt_at=timezone.now())
    _enqueue_after_commit(send_email, message.pk)
    return message


def on_order_event(order_event) -> None:
    """Called by orders.transitions.event_record inside the transaction of every status change."""
    order = order_event.order
    kind = order_event.kind
    if kind in ORDER_STATUS_KINDS and order_event.to_status:
        event_emit(order=order, type="order.status_changed",
                   data={"status": order_event.to_status, "previous_status": order_event.from_status})
        if kind == "approved":
            from orders.patient_links import patient_link_issue

            patient_link_issue(order=order)
            email_queue(template="patient_approved", to=order.patient.email, order=order)
        if kind in PRESCRIBER_EMAILS:
            email_queue(template=PRESCRIBER_EMAILS[kind], to=order.prescriber.user.email, order=order)
    elif kind in ("refill_requested", "refill_released", "renewal_requested", "renewal_approved", "renewal_denied"):
        lifecycle_emit(order_event)
    elif kind == "job_status" and order_event.preparation_id:
        prep = order_event.preparation
        event_emit(order=order, type="preparation.status_changed",
                   data={"preparation_id": str(prep.public_id), "position": prep.position, "status": order_event.to_status,
                         "previous_status": order_event.from_status})
        lifecycle_emit(order_event)


def lifecycle_emit(order_event) -> None:
    """The events of a prescription's life after its first fill (issue 18): a refill requested or released, the
    prescription depleted (its last refill released), a job held or resumed. Ids and statuses only: the hold reason is read from the order (it may name the patient's care)."""
    if order_event.kind in ("refill_requested", "refill_released") and order_event.preparation_id:
        _refill_emit(order_event)
        return
    if order_event.kind.startswith("renewal_") and order_event.preparation_id:
        _renewal_emit(order_event)
        return
    if order_event.kind != "job_status" or not order_event.preparation_id:
        return
    if order_event.to_status == "on_hold" or order_event.from_status == "on_hold" and order_event.to_status != "cancelled":
        from fulfillment.models import Job

        job = Job.objects.filter(preparation_id=order_event.preparation_id).order_by("-fill").first()
        event_emit(order=order_event.order, type="job.on_hold" if order_event.to_status == "on_hold" else "job.resumed",
                   data={"job_id": str(job.public_id) if job else None, "job_number": job.number if job else None,
                         "fill": job.fill if job else None, "preparation_id": str(order_event.preparation.public_id),
                         "status": order_event.to_status, "previous_status": order_event.from_status})


def _shipment_orders(shipment) -> list:
    return list(shipment.orders.select_related("patient", "prescriber__user").order_by("pk"))


def on_shipped(*, shipment) -> None:
    """Each order in the parcel hears of it as its own: its platform's webhook (in the order's sequence), its prescriber's
    email and the patient's email with that order's status link."""
    for order in _shipment_orders(shipment):
        event_emit(order=order, type="shipment.tracking_updated",
                   data={"shipment_id": str(shipment.public_id), "carrier": shipment.carrier,
                         "tracking_number": shipment.tracking_number, "status": shipment.status})
        email_queue(template="patient_shipped", to=order.patient.email, order=order)
        email_queue(template="prescriber_shipped", to=order.prescriber.user.email, order=order)


def on_tracking(*, shipment, status: str, delivered: bool) -> None:
    for order in _shipment_orders(shipment):
        event_emit(order=order, type="shipment.tracking_updated",
                   data={"shipment_id": str(shipment.public_id), "carrier": shipment.carrier,
                         "tracking_number": shipment.tracking_number, "status": status})
        if delivered:
            email_queue(template="patient_delivered", to=order.patient.email, order=order)


def retry_delay(attempts: int, schedule: list[int]) -> dt.timedelta | None:
    """The wait before attempt `attempts + 1`, or None when the schedule is used up (dead letter)."""
    if attempts - 1 < len(schedule):
        return dt.timedelta(seconds=schedule[attempts - 1])
    return None


def claim(model, pk: int) -> bool:
    """Take one due outbox row for this attempt: pending and due → sending, attempts + 1, in one
    conditional UPDATE, so two workers handed the same row cannot both send it. True if this caller holds it."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=OutboxStatus.PENDING, next_attempt_at__lte=now).update(
        status=OutboxStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    return claimed == 1


def due(model, *, now=None, limit: int = 200) -> list[int]:
    """Pending rows whose time has come, and rows stuck 'sending' for 10 minutes (their worker died)."""
    now = now or timezone.now()
    pending = list(model.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
                   .values_list("pk", flat=True)[:limit])
    stuck = model.objects.filter(status=OutboxStatus.SENDING, next_attempt_at__lte=now - dt.timedelta(minutes=10))
    stuck.update(status=OutboxStatus.PENDING)
    return pending


def webhook_schedule() -> list[int]:
    return list(settings.WEBHOOK_RETRY_SCHEDULE)


def _refill_emit(order_event) -> None:
    from fulfillment.models import Job
    from orders.models import RefillRequest

    prep = order_event.preparation
    prep.refresh_from_db(fields=["refills", "refills_remaining"])
    refill = RefillRequest.objects.filter(preparation=prep).order_by("-fill").first()
    if order_event.kind == "refill_released":
        # The fill released is the latest released one.
        refill = RefillRequest.objects.filter(preparation=prep, status="released").order_by("-released_at", "-fill").first()
    job = Job.objects.filter(preparation=prep, fill=refill.fill).first() if refill else None
    data = {"preparation_id": str(prep.public_id), "position": prep.position, "refill_id": str(refill.public_id) if refill else None,
            "fill": refill.fill if refill else None, "job_id": str(job.public_id) if job else None,
            "refills": prep.refills, "refills_remaining": prep.refills_remaining}
    if order_event.kind == "refill_requested":
        event_emit(order=order_event.order, type="refill.requested", data={**data, "source": refill.source if refill else None})
        return
    event_emit(order=order_event.order, type="refill.released", data=data)
    if prep.refills_remaining == 0:
        event_emit(order=order_event.order, type="prescription.depleted", data=data)


def _renewal_emit(order_event) -> None:
    from orders.models import RenewalRequest

    prep = order_event.preparation
    renewal = RenewalRequest.objects.filter(preparation=prep).select_related("new_order").order_by("-created_at", "-pk").first()
    if order_event.kind != "renewal_requested":
        renewal = (RenewalRequest.objects.filter(preparation=prep, decided_at__isnull=False).select_related("new_order")
                   .order_by("-decided_at", "-pk").first())
    data = {"preparation_id": str(prep.public_id), "position": prep.position,
            "renewal_request_id": str(renewal.public_id) if renewal else None, "status": renewal.status if renewal else None}
    if order_event.kind == "renewal_approved" and renewal and renewal.new_order_id:
        data["new_order_id"] = str(renewal.new_order.public_id)
        data["new_order_number"] = renewal.new_order.number
    event_emit(order=order_event.order, type=order_event.kind.replace("_", ".", 1), data=data)
