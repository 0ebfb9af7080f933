"""Webhook payloads in FHIR: for an endpoint that asks for them, each event carries the resources it
changed (the Task, and the MedicationDispense when a fill moved) in a Bundle, signed like every other
delivery. Built when the event is recorded, inside the change's transaction, so it shows the state the
event announces. References only: no patient names or directions (webhooks carry no patient data)."""

from __future__ import annotations

from django.conf import settings

from fulfillment.fhir import outbound, systems
from fulfillment.models import Job
from orders.models import Preparation

EVENT_TYPE = f"{systems.BASE}/CodeSystem/event-type"
EVENT_SEQUENCE = f"{systems.BASE}/CodeSystem/event-sequence"
EVENT_ID = f"{systems.BASE}/sid/event"


def event_bundle(*, event_id: str, type: str, sequence: int, timestamp: str, order, data: dict) -> dict:
    preps = list(Preparation.objects.filter(order=order).select_related("order__patient", "order__prescriber__user")
                 .order_by("position"))
    resources: list[dict] = []
    if type == "preparation.status_changed":
        prep = next((p for p in preps if str(p.public_id) == data.get("preparation_id")), None)
        if prep is not None:
            resources.append(outbound.task(prep, names=False))
            job = prep.jobs.select_related("shipment").order_by("-fill").first()
            if job is not None:
                resources.append(outbound.dispense(job, names=False))
    elif type == "shipment.tracking_updated":
        jobs = (Job.objects.filter(shipment__public_id=data.get("shipment_id"))
                .select_related("preparation__order__patient", "preparation__order__prescriber__user", "shipment").order_by("number"))
        for job in jobs:
            resources.append(outbound.task(job.preparation, names=False))
            resources.append(outbound.dispense(job, names=False))
    else:
        resources += [outbound.task(prep, names=False) for prep in preps]
    base = settings.SITE_URL.rstrip("/") + "/fhir/r4"
    return {
        "resourceType": "Bundle",
        "id": event_id,
        "meta": {"tag": [{"system": EVENT_TYPE, "code": type}, {"system": EVENT_SEQUENCE, "code": str(sequence)}]},
        "identifier": {"system": EVENT_ID, "value": event_id},
        "type": "collection",
        "timestamp": timestamp,
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
