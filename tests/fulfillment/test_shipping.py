"""Shipping and tracking: shipments, tracking numbers, cold packs, carrier polls and signed carrier webhooks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from fulfillment import tracking
from fulfillment.models import Job, Shipment
from orders.models import Order
from tests.builders import claimed_job, released_job

pytestmark = pytest.mark.django_db


# --- Shipping and tracking ---------------------------------------------------------------

def test_shipping_before_qc_is_409(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": "SIM000001"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize("number", ["SIM 12345", "X" * 200, "abc"])
def test_bad_tracking_numbers(api_as, rivera, staff, ready, number):
    order, job = released_job(api_as, rivera, staff)
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": number}, format="json")
    assert response.status_code == 400 and "tracking_number" in response.json()["error"]["fields"]
    assert Shipment.objects.count() == 0


def test_cold_pack_is_required_for_refrigerated_preparations(api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff, ingredients=[{"ingredient": "niacinamide", "percent": 4}], target_ph=5.5)
    assert Job.objects.get(public_id=job["id"]).preparation.storage == "refrigerate"
    body = {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight", "tracking_number": "SIM-COLD-1"}
    refused = staff["tech"].post("/api/v1/shipments/", body, format="json")
    assert refused.status_code == 400 and "cold_pack" in refused.json()["error"]["fields"]
    assert staff["tech"].post("/api/v1/shipments/", {**body, "cold_pack": True}, format="json").status_code == 201


def test_tracking_moves_forward_only_and_delivers(api_as, rivera, staff, ready, settings):
    order, job = released_job(api_as, rivera, staff)
    shipment = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": "SIM777777"}, format="json").json()
    record = Shipment.objects.get(public_id=shipment["id"])
    step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
    tracking.shipments_poll(now=record.shipped_at + step * 2)
    record.refresh_from_db()
    assert record.status == "out_for_delivery" and Job.objects.get(public_id=job["id"]).status == "shipped"
    # a late, repeated "in transit" from the carrier's webhook is kept but never moves the parcel back
    late = tracking.CarrierEvent("late-1", "in_transit", record.shipped_at + step * 3, "Scan at hub")
    tracking.tracking_apply(shipment=record, events=[late])
    record.refresh_from_db()
    assert record.status == "out_for_delivery" and record.events.count() == 3
    assert tracking.shipments_poll(now=record.shipped_at + step * 2) == 0  # duplicates are not appended twice
    tracking.shipments_poll(now=record.shipped_at + step * 4)
    record.refresh_from_db()
    assert record.status == "delivered" and Job.objects.get(public_id=job["id"]).status == "delivered"
    assert Order.objects.get(public_id=order["id"]).preparations.get().status == "delivered"


def test_delivery_keeps_the_beyond_use_days_left_on_the_job(api_as, rivera, staff, ready):
    """The metrics read the days left at delivery from the job (kept by the delivery), not from three joins:
    the table's period less the days, in the pharmacy's time zone, from compounding to delivery."""
    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM555555"}, format="json")
    row = Job.objects.select_related("record", "preparation", "shipment").get(public_id=job["id"])
    assert row.delivered_at is None and row.beyond_use_days_left is None  # shipped, not delivered yet
    local = timezone.localtime(row.record.recorded_at)
    # 23:30 local time, 9 days after the compounding day: 9 days gone whatever the hour of compounding
    at = timezone.make_aware(dt.datetime.combine(local.date() + dt.timedelta(days=9), dt.time(23, 30)))
    tracking.tracking_apply(shipment=row.shipment, events=[tracking.CarrierEvent("d-1", "delivered", at, "Delivered")])
    row.refresh_from_db()
    assert row.status == "delivered" and row.delivered_at == at
    assert row.beyond_use_days_left == row.preparation.beyond_use_days - 9


def test_carrier_webhook_needs_a_valid_signature(api_client, api_as, rivera, staff, ready, settings):
    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM888888"}, format="json")
    payload = json.dumps({"tracking_number": "SIM888888", "event_id": "w1", "status": "delivered",
                          "occurred_at": (timezone.now() + dt.timedelta(hours=1)).isoformat()}).encode()
    bad = api_client.generic("POST", "/api/v1/carriers/simulated/webhook/", payload, content_type="application/json",
                             HTTP_X_CARRIER_SIGNATURE="0" * 64)
    assert bad.status_code == 401
    good = api_client.generic("POST", "/api/v1/carriers/simulated/webhook/", payload, content_type="application/json",
                              HTTP_X_CARRIER_SIGNATURE=tracking.webhook_signature(settings.CARRIER_WEBHOOK_SECRET, payload))
    assert good.status_code == 200 and good.json() == {"accepted": 1}
    assert Job.objects.get(public_id=job["id"]).status == "delivered"
