"""The order follows its jobs through its own door: shipped when every open job has shipped, delivered when
every parcel has arrived; a shipped order cannot be cancelled (409) and its page offers no cancel."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from fulfillment import rendering, tracking
from fulfillment.models import Shipment, Worksheet
from orders.models import Order
from tests.builders import approve, record_body, released_job
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def ship(staff, job_ids, number):
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": job_ids, "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": number, "cold_pack": True}, format="json")
    assert response.status_code == 201, response.json()
    return Shipment.objects.get(public_id=response.json()["id"])


def test_one_preparation_shipped_then_delivered_at_order_level(api_as, rivera, staff, ready, settings, client, password):
    order, job = released_job(api_as, rivera, staff)
    doctor = api_as(rivera.user)
    assert doctor.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "approved"
    shipment = ship(staff, [job["id"]], "SIM-ROLL-001")
    assert doctor.get(f"/api/v1/orders/{order['id']}/").json()["status"] == "shipped"

    refused = doctor.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "changed my mind"}, format="json")
    assert refused.status_code == 409 and Order.objects.get(public_id=order["id"]).status == "shipped"
    sign_in(client, rivera.user, password)
    page = client.get(f"/orders/{order['id']}/").content.decode()
    assert "Cancel order" not in page and 'data-testid="order-status">Shipped<' in page
    assert "Order shipped: every preparation is on its way." in page
    shipping = page[page.index('data-testid="shipments"'):]
    assert "SIM-ROLL-001" in shipping and "To 1 Main St, Oakland, CA 94601" in shipping  # where it goes and how to follow it

    step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
    tracking.shipments_poll(now=shipment.shipped_at + step * 4)  # the simulated carrier delivers
    answer = doctor.get(f"/api/v1/orders/{order['id']}/").json()
    assert answer["status"] == "delivered" and answer["preparations"][0]["status"] == "delivered"
    assert doctor.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json").status_code == 409
    events = [(e["kind"], e["to_status"]) for e in doctor.get(f"/api/v1/orders/{order['id']}/events/").json()["results"]]
    assert ("status_changed", "shipped") in events and ("status_changed", "delivered") in events


def released(staff, job_id):
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job_id).pk)
    assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
    staff["tech"].post(f"/api/v1/jobs/{job_id}/qc/", {"ph": "5.0", "appearance_ok": True, "fill_weight": "50.5"}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job_id}/verify/").status_code == 200


def test_two_preparations_are_partly_shipped_until_both_ship(api_as, rivera, staff, ready, client, password):
    prep = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly.",
            "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]}
    body = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"}, "preparations": [prep, prep]}
    created = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    approve(staff, created)
    first = staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"]
    second = staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"]
    released(staff, first)
    released(staff, second)
    ship(staff, [first], "SIM-PART-001")
    order = Order.objects.get(public_id=created["id"])
    assert order.status == "approved" and order.status_text == "Partly shipped"
    sign_in(client, rivera.user, password)
    assert "Partly shipped" in client.get(f"/orders/{order.public_id}/").content.decode()
    assert order.number not in client.get("/orders/?status=shipped").content.decode()
    ship(staff, [second], "SIM-PART-002")
    order.refresh_from_db()
    assert order.status == "shipped"
    assert order.number in client.get("/orders/?status=shipped").content.decode()
    assert order.number not in client.get("/orders/?status=approved").content.decode()


def test_a_package_of_two_ships_from_the_page_with_its_labels_in_one_pdf(api_as, rivera, staff, ready, client, technician, password):
    import io

    from pypdf import PdfReader

    from tests.builders import pdf_text

    prep = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.5, "directions": "Apply nightly.",
            "ingredients": [{"ingredient": "niacinamide", "percent": 4}]}  # no preservative: kept in the fridge
    body = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"}, "preparations": [prep, prep]}
    created = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    approve(staff, created)
    jobs = [staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"] for _ in range(2)]
    for job_id in jobs:
        rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job_id).pk)
        assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
        staff["tech"].post(f"/api/v1/jobs/{job_id}/qc/", {"ph": "5.5", "appearance_ok": True, "fill_weight": "50.5"}, format="json")
        assert staff["pharmacist"].post(f"/api/v1/jobs/{job_id}/verify/").status_code == 200
    sign_in(client, technician, password)
    page = client.get(f"/pharmacy/jobs/{jobs[0]}/").content.decode()
    form = page[page.index('data-testid="ship-form"'):]
    assert "Ships to <strong>Maya Lopez</strong>, 1 Main St, Oakland, CA 94601" in form
    assert 'name="service" value="Overnight"' in form and 'name="cold_pack" checked' in form
    assert all(f'value="{job_id}"' in form for job_id in jobs)
    client.post(f"/pharmacy/jobs/{jobs[0]}/ship/", {"jobs": jobs, "carrier": "simulated", "service": "Overnight",
                                                    "tracking_number": "SIM-PACK-0002", "cold_pack": "on"})
    shipment = Shipment.objects.get()
    assert shipment.jobs.count() == 2 and Order.objects.get(public_id=created["id"]).status == "shipped"
    pdf = client.get(f"/pharmacy/shipments/{shipment.public_id}/labels.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf["Cache-Control"] == "no-store"
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 2
    text = pdf_text(pdf.content)
    numbers = sorted(job.number for job in shipment.jobs.all())
    assert all(f"Rx {number}" in text for number in numbers)
