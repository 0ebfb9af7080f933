"""Webhook payloads in FHIR: for an endpoint that asks for them, each event carries the resources it
changed (the Task, and the MedicationDispense when a fill moved) in a Bundle, signed like every other
delivery. Built when the event is recorded, inside the change's transaction, so it shows the state the
event announces. References only: no patient names or directions (webhooks carry no patient data)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch

from fulfillment.fhir import outbound, systems
from fulfillment.models import Job
from orders.models import Preparation

EVENT_TYPE = f"{systems.BASE}/CodeSystem/event-type"
EVENT_SEQUENCE = f"{systems.BASE}/CodeSystem/event-sequence"
EVENT_ID = f"{systems.BASE}/sid/event"


def event_bundle(*, event_id: str, type: str, sequence: int, timestamp: str, order, data: dict) -> dict | None:
    """None when there is nothing to show yet: an order's first event is recorded before its preparations
    are written (orders.services.order_submit); its Bundle is built right after that commit (fill_after_commit)."""
    # Every preparation with its fills (and their parcels and records) and the order's newest event, read once: the
    # resources below read them from here, never one preparation or job at a time.
    fills = Job.objects.select_related("shipment", "record").prefetch_related("record__lines").order_by("fill")
    preps = list(Preparation.objects.filter(order=order).select_related("order__patient", "order__prescriber__user")
                 .prefetch_related(Prefetch("jobs", queryset=fills, to_attr="fhir_jobs")).order_by("position"))
    newest = order.events.order_by("-created_at").values_list("created_at", flat=True).first()
    for prep in preps:
        prep.last_event_at = newest
    with outbound.one_read():  # the pharmacy (and the formulary) once for the whole Bundle
        resources = _resources(type, data, preps)
    if not resources:
        return None
    base = settings.SITE_URL.rstrip("/") + "/fhir/r4"
    return {
        "resourceType": "Bundle",
        "id": event_id.replace("_", "-"),  # a FHIR id has no underscore; identifier keeps the event id as sent
        "meta": {"tag": [{"system": EVENT_TYPE, "code": type}, {"system": EVENT_SEQUENCE, "code": str(sequence)}]},
        "identifier": {"system": EVENT_ID, "value": event_id},
        "type": "collection",
        "timestamp": timestamp,
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def _resources(type: str, data: dict, preps: list) -> list[dict]:
    resources: list[dict] = []
    if type == "preparation.status_changed":
        prep = next((p for p in preps if str(p.public_id) == data.get("preparation_id")), None)
        if prep is not None:
            resources.append(outbound.task(prep, names=False))
            job = prep.fhir_jobs[-1] if prep.fhir_jobs else None  # the latest fill
            if job is not None:
                resources.append(outbound.dispense(job, names=False))
    elif type == "shipment.tracking_updated":
        # Only this order's jobs: a parcel may also hold the patient's other orders, which are another event's business.
        jobs = sorted((job for prep in preps for job in prep.fhir_jobs
                       if job.shipment_id and str(job.shipment.public_id) == data.get("shipment_id")), key=lambda job: job.number)
        for job in jobs:
            resources.append(outbound.task(job.preparation, names=False))
            resources.append(outbound.dispense(job, names=False))
    else:
        resources += [outbound.task(prep, names=False) for prep in preps]
    return resources


def event_bundle_for(event) -> dict | None:
    """The Bundle of a recorded event, built from what it announced (for an event recorded before its resources)."""
    data = event.payload.get("data", {})
    return event_bundle(event_id=event.public_id, type=event.type, sequence=event.sequence, timestamp=event.payload.get("timestamp"),
                        order=event.order, data=data)


def fill(event_pk: int) -> None:
    """Build a recorded event's Bundle once (if it has none yet)."""
    from fulfillment.models import WebhookEvent

    event = WebhookEvent.objects.select_related("order").filter(pk=event_pk, fhir_payload__isnull=True).first()
    if event is not None:
        WebhookEvent.objects.filter(pk=event_pk, fhir_payload__isnull=True).update(fhir_payload=event_bundle_for(event))
