"""FHIR out: MedicationRequest reads and searches, a Task per preparation and a MedicationDispense per
fill through an order's whole life, scoped to the caller's clinic, each read an access event."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fulfillment import rendering, tracking
from fulfillment.models import Job, Shipment, Worksheet
from orders.models import Order
from portal.models import AccessEvent
from tests.builders import approve, record_body
from tests.fulfillment.fhir.builders import as_bundle, compound_request, issues, post, valid

pytestmark = pytest.mark.django_db


def create(client, prescriber, **kw) -> dict:
    response = post(client, "/fhir/r4/MedicationRequest", compound_request(prescriber.npi, **kw))
    assert response.status_code == 201, response.json()
    return response.json()


def search(client, path: str) -> list[dict]:
    response = client.get(path)
    assert response.status_code == 200, response.json()
    bundle = valid(response.json())
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle.get("entry", []))
    return [entry["resource"] for entry in bundle.get("entry", [])]


def state(client, request_id: str) -> tuple:
    [task] = search(client, f"/fhir/r4/Task?focus=MedicationRequest/{request_id}")
    dispenses = search(client, f"/fhir/r4/MedicationDispense?prescription={request_id}")
    request = valid(client.get(f"/fhir/r4/MedicationRequest/{request_id}").json())
    return (request["status"], task["status"], task["businessStatus"]["coding"][0]["code"], [d["status"] for d in dispenses])


def test_task_and_dispense_follow_the_order_through_its_life(api_as, rivera, staff, ready, settings):
    client = api_as(rivera.user)
    request = create(client, rivera)
    rid = request["id"]
    order = Order.objects.get(preparations__public_id=rid)
    assert state(client, rid) == ("active", "requested", "submitted", [])

    approve(staff, api_as(rivera.user).get(f"/api/v1/orders/{order.public_id}/").json())
    assert state(client, rid) == ("active", "accepted", "verified", ["preparation"])

    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job["id"]).pk)
    assert state(client, rid) == ("active", "in-progress", "compounding", ["in-progress"])

    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json").status_code == 200
    assert state(client, rid) == ("active", "in-progress", "qc", ["in-progress"])
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    assert state(client, rid) == ("active", "in-progress", "qc-passed", ["in-progress"])

    shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight",
                                                        "tracking_number": "SIM-FHIR-1", "cold_pack": True}, format="json")
    assert shipped.status_code == 201, shipped.json()
    assert state(client, rid) == ("active", "in-progress", "shipped", ["completed"])
    [task] = search(client, f"/fhir/r4/Task?focus=MedicationRequest/{rid}")
    outputs = {o["type"]["coding"][0]["code"]: o for o in task["output"]}
    assert outputs["tracking-number"]["valueString"] == "simulated SIM-FHIR-1"
    assert "tracking-url" not in outputs  # the simulated carrier has no public tracking page (a real one's link goes here)
    assert task["intent"] == "order" and task["code"]["coding"][0]["code"] == "fulfill" and task["owner"]["display"]

    record = Shipment.objects.get()
    tracking.shipments_poll(now=record.shipped_at + dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS) * 4)
    # delivered, with a refill left: the prescription stays active, the Task (this fill's work) is done
    assert state(client, rid) == ("active", "completed", "delivered", ["completed"])
    [dispense] = search(client, f"/fhir/r4/MedicationDispense?prescription=MedicationRequest/{rid}")
    job_row = Job.objects.get(public_id=job["id"])
    batch = dispense["contained"][0]["batch"]
    assert batch["lotNumber"] == job_row.number
    label_bud = job_row.record.recorded_at.date() + dt.timedelta(days=job_row.preparation.beyond_use_days)
    assert batch["expirationDate"].startswith(label_bud.isoformat())
    assert dispense["whenHandedOver"].startswith(timezone.localtime(record.shipped_at).isoformat(timespec="seconds")[:16])
    assert dispense["type"]["coding"][0]["code"] == "FF"
    assert dispense["authorizingPrescription"] == [{"reference": f"MedicationRequest/{rid}"}]
    assert valid(client.get(f"/fhir/r4/MedicationDispense/{dispense['id']}").json())["id"] == dispense["id"]
    assert valid(client.get(f"/fhir/r4/Task/{rid}").json())["status"] == "completed"


def test_rejected_clarified_and_cancelled_orders(api_as, rivera, staff, ready):
    client = api_as(rivera.user)
    first = create(client, rivera, identifier="r-1")
    order = Order.objects.get(preparations__public_id=first["id"])
    staff["pharmacist"].post(f"/api/v1/orders/{order.public_id}/request-clarification/", {"question": "Face or body?"}, format="json")
    [task] = search(client, f"/fhir/r4/Task?focus=MedicationRequest/{first['id']}")
    assert (task["status"], task["statusReason"]["text"]) == ("on-hold", "Face or body?")
    assert client.get(f"/fhir/r4/MedicationRequest/{first['id']}").json()["status"] == "on-hold"
    client.post(f"/api/v1/orders/{order.public_id}/cancel/", {"reason": "Patient changed her mind."}, format="json")
    [task] = search(client, f"/fhir/r4/Task?focus=MedicationRequest/{first['id']}")
    assert (task["status"], task["statusReason"]["text"]) == ("cancelled", "Patient changed her mind.")
    second = create(client, rivera, identifier="r-2")
    order = Order.objects.get(preparations__public_id=second["id"])
    staff["pharmacist"].post(f"/api/v1/orders/{order.public_id}/reject/", {"reason": "Not for this patient."}, format="json")
    [task] = search(client, f"/fhir/r4/Task?focus=MedicationRequest/{second['id']}")
    assert (task["status"], task["statusReason"]["text"], task["businessStatus"]["coding"][0]["code"]) == (
        "rejected", "Not for this patient.", "rejected")
    request = valid(client.get(f"/fhir/r4/MedicationRequest/{second['id']}").json())
    assert (request["status"], request["statusReason"]["text"]) == ("stopped", "Not for this patient.")


def test_search_by_identifier_patient_status_and_last_updated(api_as, rivera, staff, ready):
    client = api_as(rivera.user)
    one = create(client, rivera, identifier="s-1")
    two = create(client, rivera, identifier="s-2")
    order_two = Order.objects.get(preparations__public_id=two["id"])
    staff["pharmacist"].post(f"/api/v1/orders/{order_two.public_id}/reject/", {"reason": "No."}, format="json")
    assert [r["id"] for r in search(client, "/fhir/r4/MedicationRequest?identifier=https://ehr.example/rx|s-1")] == [one["id"]]
    assert [r["id"] for r in search(client, f"/fhir/r4/MedicationRequest?identifier={order_two.number}")] == []
    assert [r["id"] for r in search(client, "/fhir/r4/MedicationRequest?identifier="
                                            f"https://compounding-portal.example/fhir/sid/order-number|{order_two.number}")] == [two["id"]]
    patient = one["subject"]["reference"]
    assert {r["id"] for r in search(client, f"/fhir/r4/MedicationRequest?patient={patient}")} == {one["id"], two["id"]}
    assert [r["id"] for r in search(client, "/fhir/r4/MedicationRequest?status=active")] == [one["id"]]
    assert [r["id"] for r in search(client, "/fhir/r4/MedicationRequest?status=stopped")] == [two["id"]]
    today = timezone.localdate()
    assert len(search(client, f"/fhir/r4/MedicationRequest?_lastUpdated=ge{today.isoformat()}")) == 2
    assert search(client, f"/fhir/r4/MedicationRequest?_lastUpdated=gt{today.isoformat()}") == []
    assert search(client, f"/fhir/r4/MedicationRequest?_lastUpdated=lt{today.isoformat()}") == []
    bad = client.get("/fhir/r4/MedicationRequest?_lastUpdated=yesterday")
    assert bad.status_code == 400 and issues(bad)[0]["expression"] == ["_lastUpdated"]
    assert client.get("/fhir/r4/MedicationRequest?status=happy").status_code == 400
    assert {t["id"] for t in search(client, "/fhir/r4/Task")} == {one["id"], two["id"]}  # without focus: the clinic's
    assert search(client, "/fhir/r4/MedicationDispense") == []  # no fill yet


def test_another_clinic_reads_nothing_and_each_read_is_an_access_event(api_as, rivera, chen, ready):
    ours = api_as(rivera.user)
    response = post(ours, "/fhir/r4/", as_bundle(compound_request(rivera.npi)))
    rid = response.json()["entry"][1]["response"]["location"].split("/")[1]
    patient_id = response.json()["entry"][0]["response"]["location"]
    theirs = api_as(chen.user)
    before = AccessEvent.objects.count()
    for path in (f"/fhir/r4/MedicationRequest/{rid}", f"/fhir/r4/Task/{rid}", f"/fhir/r4/{patient_id}",
                 "/fhir/r4/MedicationRequest/not-a-uuid"):
        refused = theirs.get(path)
        assert refused.status_code == 404 and issues(refused)[0]["code"] == "not-found", path
    for path in (f"/fhir/r4/Task?focus=MedicationRequest/{rid}", f"/fhir/r4/MedicationDispense?prescription={rid}",
                 "/fhir/r4/MedicationRequest?identifier=ehr-rx-1001", f"/fhir/r4/MedicationRequest?patient={patient_id}"):
        assert search(theirs, path) == [], path
    assert AccessEvent.objects.count() == before
    order = Order.objects.get(preparations__public_id=rid)
    assert valid(ours.get(f"/fhir/r4/MedicationRequest/{rid}").json())["subject"]["reference"] == patient_id
    assert valid(ours.get(f"/fhir/r4/{patient_id}").json())["name"][0]["family"] == "Lopez"
    search(ours, f"/fhir/r4/Task?focus=MedicationRequest/{rid}")
    events = list(AccessEvent.objects.filter(pk__gt=0).order_by("-pk")[:3])
    assert [(e.object_type, e.channel, e.patient_id) for e in reversed(events)] == [
        ("order", "api", order.patient_id), ("patient", "api", order.patient_id), ("order", "api", order.patient_id)]
