"""One parcel for one patient at one address: ready jobs of different orders of that patient ship together under one
tracking number, offered on the pharmacy's ship page; each order follows the parcel (its status, its webhook events,
its prescriber's page, the patient's status page, its delivery). Jobs for another patient or another address are
neither offered nor accepted, and a refused parcel saves nothing."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from fulfillment import tracking
from fulfillment.models import Job, Shipment, WebhookEvent
from orders.models import Order, Patient
from tests.builders import approve, claimed_job, pdf_text, record_body
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
ADDRESS = {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"}
PREP = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly.",
        "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]}


def _release(staff, job_id):
    assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
    staff["tech"].post(f"/api/v1/jobs/{job_id}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job_id}/verify/").status_code == 200


def _released_order(api_as, prescriber, staff, *, patient_id: str, ship_to: dict | None = None) -> tuple[dict, str]:
    """Another order for a patient already on file, worked through to ready to ship."""
    from fulfillment import rendering
    from fulfillment.models import Worksheet

    body = {"patient_id": patient_id, "ship_to": ship_to or ADDRESS, "preparations": [PREP]}
    response = api_as(prescriber.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    order = response.json()
    approve(staff, order)
    job_id = staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"]
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job_id).pk)
    _release(staff, job_id)
    return order, job_id


@pytest.fixture
def two_orders(api_as, rivera, staff, ready):
    """Two orders of Maya Lopez going to 1 Main St, each with a job ready to ship."""
    first, first_job = claimed_job(api_as, rivera, staff)
    _release(staff, first_job["id"])
    patient = Order.objects.get(public_id=first["id"]).patient
    second, second_job = _released_order(api_as, rivera, staff, patient_id=str(patient.public_id),
                                         ship_to={**ADDRESS, "line1": "1 main st.", "postal_code": "94601-1234"})  # same place, typed otherwise
    return {"orders": [first["id"], second["id"]], "jobs": [first_job["id"], second_job], "patient": patient}


def test_the_ship_page_offers_to_combine_and_one_parcel_serves_both_orders(two_orders, staff, client, technician, rivera, password,
                                                                          settings, api_as):
    first_job, second_job = two_orders["jobs"]
    first_order, second_order = (Order.objects.get(public_id=o) for o in two_orders["orders"])
    sign_in(client, technician, password)
    page = client.get(f"/pharmacy/jobs/{first_job}/").content.decode()
    form = page[page.index('data-testid="ship-form"'):page.index("</form>", page.index('data-testid="ship-form"'))]
    offer = re.search(r'data-testid="combine">(.*?)</p>', form, re.S).group(1)
    assert f"Maya Lopez also has order {second_order.number} ready for this address" in " ".join(offer.split())
    assert re.search(rf'value="{first_job}" checked', form) and re.search(rf'value="{second_job}" >', form)  # only its own ticked
    assert f"(order {second_order.number})" in form

    response = client.post(f"/pharmacy/jobs/{first_job}/ship/", {"jobs": [first_job, second_job], "carrier": "simulated",
                                                                 "service": "Ground", "tracking_number": "SIM-BOTH-0001", "cold_pack": "on"})
    assert response.status_code == 302
    shipment = Shipment.objects.get()
    assert sorted(o.pk for o in shipment.orders.all()) == sorted([first_order.pk, second_order.pk])
    assert shipment.patient_id == two_orders["patient"].pk and shipment.jobs.count() == 2
    for order in (first_order, second_order):
        order.refresh_from_db()
        assert order.status == "shipped" and order.estimated_delivery_date == shipment.estimated_delivery_date
    page = client.get(f"/pharmacy/jobs/{second_job}/").content.decode()
    assert f"One parcel for orders {first_order.number}, {second_order.number}." in page
    labels = client.get(f"/pharmacy/shipments/{shipment.public_id}/labels.pdf")  # every label of the parcel, one PDF
    assert labels.status_code == 200 and labels["Content-Type"] == "application/pdf"
    text = pdf_text(labels.content)
    assert all(f"Rx {job.number}" in text for job in shipment.jobs.all()) and text.count("Maya Lopez") == 2

    # The API tells the parcel's orders; the webhook feed tells each order on its own, in its own sequence.
    detail = staff["tech"].get(f"/api/v1/shipments/{shipment.public_id}/").json()
    assert detail["orders"] == [str(first_order.public_id), str(second_order.public_id)] and detail["order"] == str(first_order.public_id)
    for order in (first_order, second_order):
        events = list(WebhookEvent.objects.filter(order=order, type="shipment.tracking_updated"))
        assert len(events) == 1 and events[0].payload["data"]["order_id"] == str(order.public_id)
        assert events[0].payload["data"]["tracking_number"] == "SIM-BOTH-0001"

    # Each order's page shows its prescriber the parcel and its tracking number.
    doctor = client.__class__()
    sign_in(doctor, rivera.user, password)
    for order in (first_order, second_order):
        shown = doctor.get(f"/orders/{order.public_id}/").content.decode()
        shipping = shown[shown.index('data-testid="shipments"'):]
        assert "SIM-BOTH-0001" in shipping and re.search(r"To 1 main st\.?, Oakland, CA 94601", shipping, re.I), order.number

    # Delivered: every job, and each order, through its own door.
    step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
    tracking.shipments_poll(now=shipment.shipped_at + step * 4)
    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert set(Job.objects.filter(public_id__in=[first_job, second_job]).values_list("status", flat=True)) == {"delivered"}
    for order in (first_order, second_order):
        order.refresh_from_db()
        assert order.status == "delivered"
        assert api_as(rivera.user).get(f"/api/v1/orders/{order.public_id}/").json()["status"] == "delivered"
        kinds = [e.payload["data"]["status"] for e in WebhookEvent.objects.filter(order=order, type="shipment.tracking_updated")
                 .order_by("sequence")]
        assert kinds[-1] == "delivered" and kinds[0] == "label_created"


def test_the_patient_status_page_of_each_order_shows_the_parcel(two_orders, staff, client):
    from orders.patient_links import link_token, patient_link_current

    staff["tech"].post("/api/v1/shipments/", {"jobs": two_orders["jobs"], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-BOTH-0002", "cold_pack": True}, format="json")
    for order_id in two_orders["orders"]:
        order = Order.objects.get(public_id=order_id)
        token = link_token(patient_link_current(order=order))
        page = client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, follow=True).content.decode()
        assert "SIM-BOTH-0002" in page, order.number


def test_another_address_is_neither_offered_nor_accepted(api_as, rivera, staff, ready, client, technician, password):
    first, first_job = claimed_job(api_as, rivera, staff)
    _release(staff, first_job["id"])
    patient = Order.objects.get(public_id=first["id"]).patient
    _second, second_job = _released_order(api_as, rivera, staff, patient_id=str(patient.public_id),
                                          ship_to={**ADDRESS, "line1": "77 Harbor Way"})
    sign_in(client, technician, password)
    page = client.get(f"/pharmacy/jobs/{first_job['id']}/").content.decode()
    assert 'data-testid="combine"' not in page and second_job not in page

    refused = staff["tech"].post("/api/v1/shipments/", {"jobs": [first_job["id"], second_job], "carrier": "simulated",
                                                        "service": "Ground", "tracking_number": "SIM-TWO-0001", "cold_pack": True},
                                 format="json")
    assert refused.status_code == 400 and "different addresses" in refused.json()["error"]["message"]
    assert Shipment.objects.count() == 0
    assert set(Job.objects.filter(public_id__in=[first_job["id"], second_job]).values_list("status", flat=True)) == {"ready"}


def test_another_patient_is_refused_and_nothing_is_saved(api_as, rivera, staff, ready):
    _first, first_job = claimed_job(api_as, rivera, staff)
    _release(staff, first_job["id"])
    other = Patient.objects.create(clinic=rivera.clinic, first_name="Ravi", last_name="Shah", date_of_birth=dt.date(1980, 2, 2),
                                   address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")
    _second, second_job = _released_order(api_as, rivera, staff, patient_id=str(other.public_id))  # same address, another person
    refused = staff["tech"].post("/api/v1/shipments/", {"jobs": [first_job["id"], second_job], "carrier": "simulated",
                                                        "service": "Ground", "tracking_number": "SIM-TWO-0002", "cold_pack": True},
                                 format="json")
    assert refused.status_code == 400 and "different patients" in refused.json()["error"]["message"]
    assert Shipment.objects.count() == 0 and not WebhookEvent.objects.filter(type="shipment.tracking_updated").exists()
    assert set(Job.objects.filter(public_id__in=[first_job["id"], second_job]).values_list("status", flat=True)) == {"ready"}


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_shipment_its_order_and_patient(api_as, rivera, staff, ready, technician):
    """A shipment made before parcels held several orders comes out of the two parcel migrations with that one order
    and its patient. (The migrations are found by name, so a renumbering after a merge does not break the test.)"""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    graph = MigrationExecutor(connection).loader.graph
    mine = next(key for key in graph.nodes if key[0] == "fulfillment" and key[1].endswith("_shipment_many_orders"))
    before = next(parent for parent in graph.node_map[mine].parents if parent.key[0] == "fulfillment").key
    orders = [Order.objects.get(public_id=claimed_job(api_as, rivera, staff, first=first, last=last)[0]["id"])
              for first, last in (("Maya", "Lopez"), ("Ravi", "Shah"))]
    assert orders[0].patient_id != orders[1].patient_id
    call_command("migrate", *before, verbosity=0)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        OldShipment = old.get_model("fulfillment", "Shipment")
        made = [OldShipment.objects.create(order_id=order.pk, carrier="simulated", service="Ground", tracking_number=f"SIM-OLD-000{n}",
                                           shipped_by_id=technician.pk, shipped_at=dt.datetime(2026, 11, 2, 15, tzinfo=dt.timezone.utc))
                for n, order in enumerate(orders)]
    finally:
        call_command("migrate", "fulfillment", verbosity=0)
    for order, old_row in zip(orders, made):
        shipment = Shipment.objects.get(pk=old_row.pk)
        assert list(shipment.orders.all()) == [order] and shipment.patient_id == order.patient_id
        assert list(order.shipments.all()) == [shipment]


def test_one_parcel_of_two_orders_sends_the_patient_one_shipped_and_one_delivered_email(two_orders, staff, settings):
    """The patient gets one email when the parcel ships and one when it arrives, naming both orders with a link to
    each; each order's prescriber still hears of their own order, and each order keeps its own webhooks and status."""
    from django.core import mail

    from fulfillment.models import EmailOutbox
    from fulfillment.notifications import emails
    from orders.patient_links import link_url, patient_link_current

    first_order, second_order = (Order.objects.get(public_id=o) for o in two_orders["orders"])
    Patient.objects.filter(pk=two_orders["patient"].pk).update(email="maya.lopez@example.test")
    first_order.patient.refresh_from_db()
    EmailOutbox.objects.all().delete()  # the approval emails: not what this test reads
    shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": two_orders["jobs"], "carrier": "simulated", "service": "Ground",
                                                        "tracking_number": "SIM-BOTH-0003", "cold_pack": True}, format="json")
    assert shipped.status_code == 201, shipped.json()
    shipment = Shipment.objects.get()
    tracking.shipments_poll(now=shipment.shipped_at + dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS) * 4)
    assert sorted(EmailOutbox.objects.values_list("template", flat=True)) == [
        "patient_delivered", "patient_shipped", "prescriber_shipped", "prescriber_shipped"]
    assert sorted(EmailOutbox.objects.filter(template="prescriber_shipped").values_list("order_id", flat=True)) == sorted(
        [first_order.pk, second_order.pk])  # each prescriber's email is about their own order
    for pk in EmailOutbox.objects.values_list("pk", flat=True):
        emails.email_send(message_id=pk)
    to_patient = [m for m in mail.outbox if m.to == [first_order.patient.email]]
    assert [m.subject for m in to_patient] == ["Your compounded preparations have shipped", "Your compounded preparations were delivered"]
    for message in to_patient:
        html = message.alternatives[0][0]
        for order in (first_order, second_order):
            url = link_url(patient_link_current(order=order))
            assert order.number in message.body and url in message.body and url in html, (message.subject, order.number)
    assert f"orders {first_order.number} and {second_order.number}" in to_patient[0].body
    for order in (first_order, second_order):  # each order still moves and tells its platform on its own
        order.refresh_from_db()
        assert order.status == "delivered"
        statuses = [e.payload["data"]["status"] for e in WebhookEvent.objects.filter(order=order, type="shipment.tracking_updated")]
        assert statuses[0] == "label_created" and statuses[-1] == "delivered"
