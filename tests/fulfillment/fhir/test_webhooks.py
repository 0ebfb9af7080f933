"""Webhook endpoints that ask for FHIR get, for each event, the changed Task (and MedicationDispense) in a
Bundle, signed as every delivery; an endpoint of the portal's JSON beside it is unchanged."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from fulfillment.models import WebhookDelivery, WebhookEndpoint
from fulfillment.notifications import webhooks
from orders.models import Order
from tests.builders import Receiver, approve, record_body
from tests.fulfillment.fhir.builders import compound_request, post, valid

pytestmark = pytest.mark.django_db
TYPES = ["order.status_changed", "preparation.status_changed", "shipment.tracking_updated"]


def deliver_due():
    for delivery in WebhookDelivery.objects.filter(status="pending"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        webhooks.webhook_deliver(delivery_id=delivery.pk)


def test_a_fhir_endpoint_hears_each_change_as_the_task_and_dispense_it_changed(api_as, rivera, staff, ready,
                                                                            django_capture_on_commit_callbacks):
    def step(call):
        """One request, then what runs after its commit (the first event's Bundle is built there)."""
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    fhir_holder, json_holder = {}, {}
    fhir_receiver, json_receiver = Receiver(fhir_holder), Receiver(json_holder)
    try:
        client = api_as(rivera.user)
        made = client.post("/api/v1/webhooks/", {"url": fhir_receiver.url, "event_types": TYPES, "payload_format": "fhir"},
                           format="json")
        assert made.status_code == 201 and made.json()["payload_format"] == "fhir"
        fhir_holder["secret"] = made.json()["secret"]
        plain = client.post("/api/v1/webhooks/", {"url": json_receiver.url, "event_types": TYPES}, format="json")
        json_holder["secret"] = plain.json()["secret"]
        assert client.post("/api/v1/webhooks/", {"url": json_receiver.url, "event_types": TYPES, "payload_format": "xml"},
                           format="json").status_code == 400

        request = step(lambda: post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi)).json())
        order = Order.objects.get(preparations__public_id=request["id"])
        step(lambda: approve(staff, client.get(f"/api/v1/orders/{order.public_id}/").json()))
        job = step(lambda: staff["tech"].post("/api/v1/jobs/claim-next/").json())
        step(lambda: staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json"))
        step(lambda: staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50},
                                        format="json"))
        step(lambda: staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/"))
        step(lambda: staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight",
                                                               "tracking_number": "SIM-HOOK-1", "cold_pack": True}, format="json"))
        deliver_due()

        assert fhir_receiver.received and all(fhir_receiver.verified) and all(json_receiver.verified)
        assert {r["content_type"] for r in fhir_receiver.received} == {"application/fhir+json"}
        assert {r["content_type"] for r in json_receiver.received} == {"application/json"}
        assert [r["id"] for r in fhir_receiver.received] == [r["id"] for r in json_receiver.received]  # the same events
        bundles = sorted((r["body"] for r in fhir_receiver.received), key=lambda b: int(b["meta"]["tag"][1]["code"]))
        for bundle, delivery in zip(bundles, sorted(fhir_receiver.received, key=lambda r: int(r["body"]["meta"]["tag"][1]["code"]))):
            valid(bundle)
            assert bundle["identifier"]["value"] == delivery["id"] and bundle["id"] == delivery["id"].replace("_", "-")
            assert "Maya" not in json.dumps(bundle) and "Lopez" not in json.dumps(bundle) and "Apply nightly" not in json.dumps(bundle)
        steps = []
        for bundle in bundles:
            kinds = {e["resource"]["resourceType"]: e["resource"] for e in bundle.get("entry", [])}
            assert "Task" in kinds, bundle
            task = kinds["Task"]
            assert task["focus"]["reference"] == f"MedicationRequest/{request['id']}"
            steps.append((bundle["meta"]["tag"][0]["code"], task["status"], task["businessStatus"]["coding"][0]["code"],
                          kinds.get("MedicationDispense", {}).get("status")))
        assert steps == [
            ("order.status_changed", "requested", "submitted", None),
            ("order.status_changed", "accepted", "verified", None),
            ("preparation.status_changed", "accepted", "verified", "preparation"),
            ("preparation.status_changed", "in-progress", "compounding", "in-progress"),
            ("preparation.status_changed", "in-progress", "qc", "in-progress"),
            ("preparation.status_changed", "in-progress", "qc-passed", "in-progress"),
            ("preparation.status_changed", "in-progress", "shipped", "completed"),
            ("order.status_changed", "in-progress", "shipped", None),  # every preparation shipped: the order too
            ("shipment.tracking_updated", "in-progress", "shipped", "completed"),
        ]
        shipped = bundles[-1]["entry"]
        task = next(e["resource"] for e in shipped if e["resource"]["resourceType"] == "Task")
        assert task["output"][0]["valueString"] == "simulated SIM-HOOK-1"
        assert next(e["resource"] for e in shipped if e["resource"]["resourceType"] == "MedicationDispense")["whenHandedOver"]
        assert {r["body"]["type"] for r in json_receiver.received} == set(TYPES)  # the portal's JSON, as before
        assert all(r["body"]["data"]["order_id"] == str(order.public_id) for r in json_receiver.received)
        assert WebhookEndpoint.objects.get(url=json_receiver.url).payload_format == "json"
    finally:
        fhir_receiver.close()
        json_receiver.close()


def test_a_lost_after_commit_build_is_made_when_delivered(api_as, rivera, ready):
    holder = {}
    receiver = Receiver(holder)
    try:
        client = api_as(rivera.user)
        made = client.post("/api/v1/webhooks/", {"url": receiver.url, "event_types": TYPES, "payload_format": "fhir"}, format="json")
        holder["secret"] = made.json()["secret"]
        request = post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi)).json()  # no commit: no callback ran
        deliver_due()
        [delivery] = receiver.received
        assert valid(delivery["body"])["entry"][0]["resource"]["focus"]["reference"] == f"MedicationRequest/{request['id']}"
    finally:
        receiver.close()


def test_no_fhir_payload_is_built_when_no_endpoint_asks(api_as, rivera, ready):
    from fulfillment.models import WebhookEvent

    client = api_as(rivera.user)
    client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "event_types": TYPES}, format="json")
    post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    assert WebhookEvent.objects.count() == 1 and WebhookEvent.objects.get().fhir_payload is None
