"""A telehealth platform's account acts for the clinics the pharmacy linked it to: it orders (FHIR and the JSON
API alike) for their prescribers by NPI, reads their orders, and nothing of any other clinic."""

from __future__ import annotations

import uuid

import pytest

from orders.models import Order, Patient
from tests.factories import UserFactory
from tests.fulfillment.fhir.builders import API_BODY, compound_request, issues, post, valid

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform(rivera):
    account = UserFactory(username="medplum-bot", role="platform")
    rivera.clinic.platform_accounts.add(account)
    return account


def test_a_platform_orders_for_a_linked_clinic_and_reads_it(api_as, platform, rivera, ready):
    client = api_as(platform)
    made = post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    assert made.status_code == 201, made.json()
    order = Order.objects.get(preparations__public_id=made.json()["id"])
    assert (order.clinic_id, order.prescriber_id, order.signed_by_id) == (rivera.clinic_id, rivera.pk, platform.pk)
    assert valid(client.get(f"/fhir/r4/MedicationRequest/{made.json()['id']}").json())["requester"]["identifier"]["value"] == rivera.npi
    found = client.get("/fhir/r4/MedicationRequest?identifier=ehr-rx-1001").json()
    assert [e["resource"]["id"] for e in found["entry"]] == [made.json()["id"]]
    # The JSON API takes the same account the same way (the prescriber named by NPI).
    body = {**API_BODY, "external_id": "api-1", "prescriber_npi": rivera.npi,
            "patient": {**API_BODY["patient"], "external_id": "P-88"}}
    response = client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    assert {o["external_id"] for o in client.get("/api/v1/orders/").json()["results"]} == {"ehr-rx-1001", "api-1"}


def test_a_platform_gets_nothing_of_a_clinic_it_does_not_serve(api_as, platform, rivera, chen, ready):
    theirs = post(api_as(chen.user), "/fhir/r4/MedicationRequest", compound_request(chen.npi, identifier="chen-1"))
    assert theirs.status_code == 201
    client = api_as(platform)
    refused = post(client, "/fhir/r4/MedicationRequest", compound_request(chen.npi))
    assert refused.status_code == 403 and issues(refused)[0]["expression"] == ["MedicationRequest.requester"]
    assert client.get(f"/fhir/r4/MedicationRequest/{theirs.json()['id']}").status_code == 404
    assert "entry" not in client.get("/fhir/r4/MedicationRequest?identifier=chen-1").json()
    assert client.get(f"/api/v1/orders/{Order.objects.get().public_id}/").status_code == 404
    assert Order.objects.count() == 1 and Patient.objects.count() == 1
    unlinked = api_as(UserFactory(username="other-platform", role="platform"))
    assert post(unlinked, "/fhir/r4/MedicationRequest", compound_request(rivera.npi)).status_code == 403
    assert unlinked.get("/api/v1/orders/").status_code == 200 and unlinked.get("/api/v1/orders/").json()["results"] == []


HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["order.status_changed"], "payload_format": "fhir"}


def test_a_platform_keeps_its_own_webhooks_and_reads_its_clinics_events(api_as, platform, rivera, chen, ready):
    client = api_as(platform)
    made = client.post("/api/v1/webhooks/", HOOK, format="json")
    assert made.status_code == 201, made.json()
    assert (made.json()["clinic_name"], made.json()["payload_format"]) == ("Northstar Telederm", "fhir") and made.json()["secret"]
    hook = made.json()["id"]
    # the clinic's prescriber sees the same endpoint (it is the clinic's); another clinic's prescriber does not
    assert [e["id"] for e in api_as(rivera.user).get("/api/v1/webhooks/").json()] == [hook]
    assert api_as(chen.user).get(f"/api/v1/webhooks/{hook}/").status_code == 404
    theirs = api_as(chen.user).post("/api/v1/webhooks/", HOOK, format="json").json()["id"]
    assert [e["id"] for e in client.get("/api/v1/webhooks/").json()] == [hook]
    assert client.get(f"/api/v1/webhooks/{theirs}/").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{theirs}/").status_code == 404
    # the event feed: its clinics' orders only
    post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    post(api_as(chen.user), "/fhir/r4/MedicationRequest", compound_request(chen.npi, identifier="chen-1"))
    events = client.get("/api/v1/events/").json()["events"]
    assert events and {e["data"]["external_id"] for e in events} == {"ehr-rx-1001"}


def test_a_platform_of_several_clinics_names_the_clinic_of_a_new_endpoint(api_as, platform, rivera, chen, ready):
    client = api_as(platform)
    other = api_as(UserFactory(username="other-platform", role="platform"))
    assert other.post("/api/v1/webhooks/", HOOK, format="json").status_code == 403  # linked to no clinic
    chen.clinic.platform_accounts.add(platform)
    unnamed = client.post("/api/v1/webhooks/", HOOK, format="json")
    assert unnamed.status_code == 400 and "several clinics" in unnamed.json()["error"]["fields"]["clinic"][0]
    assert "Harbor Skin Telehealth" in unnamed.json()["error"]["fields"]["clinic"][0]
    refused = other.post("/api/v1/webhooks/", {**HOOK, "clinic": str(chen.clinic.public_id)}, format="json")
    assert refused.status_code == 400 and "do not act for this clinic" in refused.json()["error"]["fields"]["clinic"][0]
    named = client.post("/api/v1/webhooks/", {**HOOK, "clinic": str(chen.clinic.public_id)}, format="json")
    assert named.status_code == 201 and named.json()["clinic_name"] == "Harbor Skin Telehealth"
    assert [e["id"] for e in api_as(chen.user).get("/api/v1/webhooks/").json()] == [named.json()["id"]]
    assert api_as(rivera.user).get("/api/v1/webhooks/").json() == []


def test_a_platform_makes_a_patient_for_a_prescriber_it_acts_for(api_as, platform, rivera, chen, ready):
    client = api_as(platform)
    patient = {**API_BODY["patient"], "external_id": "P-90", "state": "CA", "address_line1": "1 Main St", "city": "Oakland",
               "postal_code": "94601"}
    unnamed = client.post("/api/v1/patients/", patient, format="json")
    assert unnamed.status_code == 400 and "prescriber_npi" in unnamed.json()["error"]["fields"]
    assert client.post("/api/v1/patients/", {**patient, "prescriber_npi": chen.npi}, format="json").status_code == 403
    made = client.post("/api/v1/patients/", {**patient, "prescriber_npi": rivera.npi}, format="json")
    assert made.status_code == 201, made.json()
    assert "prescriber_npi" not in made.json()
    assert Patient.objects.get().clinic_id == rivera.clinic_id
    assert [p["external_id"] for p in client.get("/api/v1/patients/").json()["results"]] == ["P-90"]
