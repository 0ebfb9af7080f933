"""The outbox reads a fixed number of queries per event, however many endpoints want it and however many preparations
or parcel jobs its FHIR Bundle carries (one preparation against five; one endpoint against ten)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fulfillment.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from fulfillment.notifications.outbox import event_emit
from orders.models import Order
from tests.builders import approve, record_body

pytestmark = pytest.mark.django_db
PREP = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly.",
        "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]}


def approved_order(api_as, rivera, staff, preparations: int, first: str) -> Order:
    body = {"patient": {"first_name": first, "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [dict(PREP) for _ in range(preparations)]}
    response = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    approve(staff, response.json())
    return Order.objects.get(public_id=response.json()["id"])


def endpoint(rivera, n: int, payload_format: str = "json") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(clinic=rivera.clinic, url=f"https://ehr.example.test/hooks/{n}", secret="s" * 32,
                                          created_by=rivera.user, payload_format=payload_format,
                                          event_types=["order.status_changed", "shipment.tracking_updated"])


def emit(order: Order, type: str = "order.status_changed", data: dict | None = None) -> int:
    order = Order.objects.get(pk=order.pk)  # as a subscriber holds it: nothing prefetched
    with CaptureQueriesContext(connection) as ctx:
        event_emit(order=order, type=type, data=data or {"status": "approved", "previous_status": "in_verification"})
    return len(ctx.captured_queries)


def test_an_event_costs_the_same_for_one_preparation_or_five_and_one_endpoint_or_ten(api_as, rivera, staff, ready):
    endpoint(rivera, 0, "fhir")  # a FHIR endpoint: the event's Bundle names every preparation
    endpoint(rivera, 1)
    one, five = approved_order(api_as, rivera, staff, 1, "Maya"), approved_order(api_as, rivera, staff, 5, "Ana")
    emit(one)  # warm: the pharmacy and the formulary read once per process
    assert emit(one) == emit(five), "an event's FHIR Bundle read each preparation's jobs and events one by one"
    last = WebhookEvent.objects.filter(order=five).latest("pk")
    assert len(last.fhir_payload["entry"]) == 5 and last.deliveries.count() == 2

    before = emit(one)
    for n in range(2, 11):
        endpoint(rivera, n)
    assert emit(one) == before, "each endpoint's delivery was written by its own INSERT"
    assert WebhookDelivery.objects.filter(event=WebhookEvent.objects.filter(order=one).latest("pk")).count() == 11  # every endpoint, the FHIR one too


def released(staff, order: Order) -> list[str]:
    """Each job of the order made, checked and released (so each has its compounding record)."""
    from fulfillment import rendering
    from fulfillment.models import Job, Worksheet

    ids = [str(j) for j in Job.objects.filter(preparation__order=order).order_by("number").values_list("public_id", flat=True)]
    for job_id in ids:
        assert staff["tech"].post(f"/api/v1/jobs/{job_id}/claim/").status_code == 200
        rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job_id).pk)
        assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
        staff["tech"].post(f"/api/v1/jobs/{job_id}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json")
        assert staff["pharmacist"].post(f"/api/v1/jobs/{job_id}/verify/").status_code == 200
    return ids


def test_a_parcels_event_costs_the_same_for_one_job_or_five(api_as, rivera, staff, ready):
    from fulfillment.models import Shipment

    endpoint(rivera, 0, "fhir")
    one, five = approved_order(api_as, rivera, staff, 1, "Maya"), approved_order(api_as, rivera, staff, 5, "Ana")
    counts = []
    for order in (one, five):
        shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": released(staff, order), "carrier": "simulated", "service": "Ground",
                                                            "tracking_number": f"SIM-COUNT-{order.pk}"}, format="json")
        assert shipped.status_code == 201, shipped.json()
        shipment = Shipment.objects.get(orders=order)
        data = {"shipment_id": str(shipment.public_id), "carrier": "simulated", "tracking_number": shipment.tracking_number,
                "status": "in_transit"}
        counts.append(emit(order, "shipment.tracking_updated", data))
        bundle = WebhookEvent.objects.filter(order=order).latest("pk").fhir_payload
        dispensed = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationDispense"]
        assert len(dispensed) == order.preparations.count() and all(d["contained"][0]["batch"]["expirationDate"] for d in dispensed)
    assert counts[0] == counts[1], "the parcel's Bundle read each job's preparation, fills, record and events one by one"
