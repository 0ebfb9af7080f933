"""Carrier tracking: a poll of open shipments and signed carrier webhooks (the adapters are in fulfillment.carriers).

Events are appended once each (by the carrier's event id); a shipment's status only moves
forward, so late or repeated events never move it back. `delivered` marks its jobs delivered."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from fulfillment.carriers import CARRIERS, CarrierEvent, carrier_for
from fulfillment.models import SHIPMENT_RANK, Job, JobStatus, Shipment, ShipmentStatus, TrackingEvent
from fulfillment.notifications import subscribers
from fulfillment.transitions import job_transition
from portal.errors import NotFound, ServiceError

# The adapters moved to fulfillment.carriers; these names stay importable from here.
__all__ = ["CARRIERS", "CarrierEvent", "carrier_for", "carrier_webhook_accept", "shipments_poll", "tracking_apply", "webhook_signature"]


def tracking_apply(*, shipment: Shipment, events: list[CarrierEvent]) -> int:
    """Append new events; move the shipment forward only; deliver its jobs when delivered."""
    added = 0
    for event in sorted(events, key=lambda e: (e.occurred_at, SHIPMENT_RANK[e.status])):
        with transaction.atomic():
            try:
                with transaction.atomic():
                    TrackingEvent.objects.create(shipment=shipment, carrier_event_id=event.event_id, status=event.status,
                                                 occurred_at=event.occurred_at, description=event.description[:200])
            except IntegrityError:
                continue  # seen before
            added += 1
            locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
            if SHIPMENT_RANK[event.status] <= SHIPMENT_RANK[locked.status]:
                continue  # late or out of order: recorded, but never a step back
            fields = {"status": event.status}
            if event.status == ShipmentStatus.DELIVERED:
                fields["delivered_at"] = max(event.occurred_at, locked.shipped_at)
            Shipment.objects.filter(pk=shipment.pk).update(**fields)
            subscribers.on_tracking(shipment=locked, status=event.status, delivered=event.status == ShipmentStatus.DELIVERED)
            if event.status == ShipmentStatus.DELIVERED:
                # Orders in a fixed order: a parcel of two orders locks their rows the same way every time (no deadlock).
                for job in (Job.objects.filter(shipment=shipment, status=JobStatus.SHIPPED).select_related("preparation__order")
                            .order_by("preparation__order_id", "pk")):
                    job_transition(job=job, to=JobStatus.DELIVERED, by=None, message=f"{job.number}: delivered",
                                   **delivery_facts(job=job, delivered_at=fields["delivered_at"]))
    shipment.refresh_from_db()
    return added


def beyond_use_days_left(*, beyond_use_days: int, recorded_at: dt.datetime, delivered_at: dt.datetime) -> int:
    """Beyond-use days the patient still has when the parcel arrives: the table's period from the day the
    preparation was compounded, less the days until the day it was delivered (in the pharmacy's time zone)."""
    tz = timezone.get_default_timezone()
    return beyond_use_days - (delivered_at.astimezone(tz).date() - recorded_at.astimezone(tz).date()).days


def delivery_facts(*, job: Job, delivered_at: dt.datetime) -> dict:
    """What the delivery keeps on the job for the metrics (fulfillment.metrics.bud_at_delivery)."""
    recorded_at = Job.objects.filter(pk=job.pk).values_list("record__recorded_at", flat=True).get()
    left = None if recorded_at is None else beyond_use_days_left(beyond_use_days=job.preparation.beyond_use_days,
                                                                  recorded_at=recorded_at, delivered_at=delivered_at)
    return {"delivered_at": delivered_at, "beyond_use_days_left": left}


def shipments_poll(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    now = now or timezone.now()
    count = 0
    open_shipments = Shipment.objects.exclude(status=ShipmentStatus.DELIVERED).order_by("last_polled_at", "pk")[:limit]
    for shipment in open_shipments:
        carrier = CARRIERS.get(shipment.carrier)
        if carrier is None:
            continue
        count += tracking_apply(shipment=shipment, events=carrier.events(shipment, now=now))
        Shipment.objects.filter(pk=shipment.pk).update(last_polled_at=now)
    return count


def webhook_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def carrier_webhook_accept(*, carrier_code: str, body: bytes, signature: str) -> int:
    """A carrier pushes an event: check its signature on the raw bytes, and only then parse them and
    apply the event like a polled one (an unsigned body is never parsed)."""
    import json

    secret = settings.CARRIER_WEBHOOK_SECRET
    if not secret or not hmac.compare_digest(webhook_signature(secret, body), signature or ""):
        raise ServiceError("Bad signature.", code="bad_signature", status=401)
    carrier_for(carrier_code)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ServiceError("The body is not JSON.", code="parse_error") from None
    if not isinstance(payload, dict):
        payload = {}
    shipment = Shipment.objects.filter(carrier=carrier_code, tracking_number=payload.get("tracking_number", "")).first()
    if shipment is None:
        raise NotFound("No such shipment.")
    try:
        status = ShipmentStatus(payload.get("status"))
        occurred = dt.datetime.fromisoformat(payload["occurred_at"])
    except (ValueError, KeyError, TypeError):
        raise ServiceError("An event has event_id, status, occurred_at (ISO 8601).", fields={"status": ["Unknown or missing."]}) from None
    if timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred, dt.timezone.utc)
    event = CarrierEvent(event_id=str(payload.get("event_id", ""))[:100] or f"{status}-{occurred.isoformat()}", status=status,
                         occurred_at=occurred, description=str(payload.get("description", ""))[:200])
    return tracking_apply(shipment=shipment, events=[event])
