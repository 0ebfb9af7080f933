"""Orders and patients over the API: submission, idempotency, scoping, lists, cancel, events, bad input."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Order, OrderEvent, Patient, Preparation
from orders.rules.engine import RULES_VERSION

pytestmark = pytest.mark.django_db


def order_body(**overrides):
    body = {
        "external_id": "EHR-77",
        "patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "external_id": "P-1"},
        "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
        "preparations": [
            {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply twice daily.",
             "refills": 2, "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]},
        ],
    }
    body.update(overrides)
    return body


def post(client, body, key="key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/orders/", body, format="json", **headers)


def test_submit_creates_a_signed_order_with_snapshots(api_as, rivera, ready):
    response = post(api_as(rivera.user), order_body())
    assert response.status_code == 201, response.json()
    data = response.json()
    assert uuid.UUID(data["id"]) and data["status"] == "submitted" and data["external_id"] == "EHR-77"
    assert data["number"].startswith("RX-") and len(data["number"]) == len("RX-2611-000123")
    prep = data["preparations"][0]
    assert prep["beyond_use_days"] == 35 and prep["storage"] == "room_or_refrigerate" and prep["refills_remaining"] == 2
    assert {"ingredient": "niacinamide", "name": "Niacinamide", "percent": 4.0, "share_percent": 4.0} in prep["ingredients"]
    assert [f["code"] for f in prep["findings"]] == ["AW_NOT_MEASURED"]  # the warning travels with the order
    order = Order.objects.get(public_id=data["id"])
    assert order.signed_by == rivera.user and order.signed_at and order.attestation
    assert order.rules_version.startswith(f"rules {RULES_VERSION}")
    assert order.patient.clinic == rivera.clinic and order.patient.external_id == "P-1"
    assert Preparation.objects.get(order=order).checked["substances"]


def test_the_snapshot_survives_formulary_edits(api_as, rivera, ready):
    from formulary.models import Material

    data = post(api_as(rivera.user), order_body()).json()
    Material.objects.filter(code="niacinamide").update(name="Renamed niacinamide")
    again = api_as(rivera.user).get(f"/api/v1/orders/{data['id']}/").json()
    assert again["preparations"][0]["ingredients"] == data["preparations"][0]["ingredients"]


def test_idempotency_key_is_required(api_as, rivera, ready):
    response = post(api_as(rivera.user), order_body(), key=None)
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"
    assert Order.objects.count() == 0


def test_same_key_same_body_replays_the_first_answer(api_as, rivera, ready):
    client = api_as(rivera.user)
    first = post(client, order_body())
    second = post(client, order_body())
    assert second.status_code == 201 and second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_same_key_other_body_is_refused(api_as, rivera, ready):
    client = api_as(rivera.user)
    post(client, order_body())
    response = post(client, order_body(external_id="EHR-78"))
    assert response.status_code == 422 and "different body" in response.json()["error"]["message"]
    assert Order.objects.count() == 1


def test_keys_belong_to_their_caller(api_as, rivera, chen, ready):
    assert post(api_as(rivera.user), order_body()).status_code == 201
    other = post(api_as(chen.user), order_body(ship_to={"line1": "2 B St", "city": "LA", "state": "CA", "postal_code": "90001"}))
    assert other.status_code == 201
    assert Order.objects.count() == 2


def test_errors_answer_422_and_save_nothing(api_as, rivera, ready):
    before = (Order.objects.count(), Patient.objects.count(), Preparation.objects.count(), OrderEvent.objects.count())
    body = order_body()
    body["preparations"][0]["ingredients"].append({"ingredient": "lactobacillus-reuteri-live", "percent": 1})
    response = post(api_as(rivera.user), body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "order_not_acceptable"
    codes = {f["code"] for f in error["fields"]["preparations"][0]["findings"]}
    assert {"LIVE_ORGANISM_NOT_COMPOUNDABLE", "LIVE_CULTURE_WITH_PRESERVATIVE"} <= codes
    assert (Order.objects.count(), Patient.objects.count(), Preparation.objects.count(), OrderEvent.objects.count()) == before
    # fixing the body and retrying with the same key works: a refusal keeps nothing
    assert post(api_as(rivera.user), order_body()).status_code == 201


def test_an_existing_patient_by_id(api_as, rivera, ready):
    client = api_as(rivera.user)
    patient = client.post("/api/v1/patients/", {"first_name": "Ana", "last_name": "Diaz", "date_of_birth": "1980-05-05",
                                                "address_line1": "9 Elm", "city": "Fresno", "state": "CA", "postal_code": "93650",
                                                "allergies": ["TREE_NUTS"]}, format="json").json()
    response = post(client, order_body(patient=None, patient_id=patient["id"], ship_to=None))
    assert response.status_code == 201, response.json()
    assert response.json()["ship_to"]["city"] == "Fresno"  # defaults to the patient's address


def test_another_clinics_patient_is_404(api_as, rivera, chen, ready):
    theirs = api_as(chen.user).post("/api/v1/patients/", {"first_name": "Owen", "last_name": "Park", "date_of_birth": "1999-11-08",
                                                          "address_line1": "3 Pine", "city": "San Diego", "state": "CA",
                                                          "postal_code": "92101"}, format="json").json()
    assert post(api_as(rivera.user), order_body(patient=None, patient_id=theirs["id"])).status_code == 404
    assert api_as(rivera.user).get(f"/api/v1/patients/{theirs['id']}/").status_code == 404
    assert Order.objects.count() == 0


def test_orders_are_scoped_to_the_clinic(api_as, rivera, chen, ready):
    mine = post(api_as(rivera.user), order_body()).json()
    chen_client = api_as(chen.user)
    assert chen_client.get(f"/api/v1/orders/{mine['id']}/").status_code == 404
    assert chen_client.get(f"/api/v1/orders/{mine['id']}/events/").status_code == 404
    assert chen_client.post(f"/api/v1/orders/{mine['id']}/cancel/", {}, format="json").status_code == 404
    assert len(chen_client.get("/api/v1/orders/").json()["results"]) == 0
    assert chen_client.get("/api/v1/patients/").json()["count"] == 0
    assert Order.objects.get(public_id=mine["id"]).status == "submitted"


def test_list_filters(api_as, rivera, ready):
    client = api_as(rivera.user)
    a = post(client, order_body(), key="a").json()
    post(client, order_body(external_id="OTHER", patient={"first_name": "Bo", "last_name": "Li", "date_of_birth": "1970-01-01"}), key="b")
    assert len(client.get("/api/v1/orders/?external_id=EHR-77").json()["results"]) == 1
    assert len(client.get(f"/api/v1/orders/?patient={a['patient']['id']}").json()["results"]) == 1
    assert len(client.get("/api/v1/orders/?status=submitted").json()["results"]) == 2
    assert client.get("/api/v1/orders/?status=bogus").status_code == 400


def test_cancel_and_events(api_as, rivera, ready):
    client = api_as(rivera.user)
    order = post(client, order_body()).json()
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "Patient changed mind"}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["preparations"][0]["status"] == "cancelled"
    events = client.get(f"/api/v1/orders/{order['id']}/events/").json()["results"]
    assert [(e["sequence"], e["kind"], e["to_status"]) for e in events] == [(1, "signed", "submitted"), (2, "cancelled", "cancelled")]
    assert events[1]["message"] == "Patient changed mind"
    again = client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


def test_no_cancel_once_compounding_started(api_as, rivera, ready):
    client = api_as(rivera.user)
    order = post(client, order_body()).json()
    Preparation.objects.filter(order__public_id=order["id"]).update(status="compounding")
    response = client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    assert response.status_code == 409 and "being compounded" in response.json()["error"]["message"]


def test_patients_api(api_as, rivera, ready):
    client = api_as(rivera.user)
    body = {"first_name": "Ana", "last_name": "Diaz", "date_of_birth": "1980-05-05", "address_line1": "9 Elm", "city": "Fresno",
            "state": "CA", "postal_code": "93650", "allergies": ["TREE_NUTS", "DAIRY"], "external_id": "EHR-P-9"}
    created = client.post("/api/v1/patients/", body, format="json")
    assert created.status_code == 201 and created.json()["allergies"] == ["TREE_NUTS", "DAIRY"]
    assert client.get("/api/v1/patients/?search=diaz").json()["count"] == 1
    assert client.get("/api/v1/patients/?search=1980-05-05").json()["count"] == 1
    assert client.get("/api/v1/patients/?search=1980-05-06").json()["count"] == 0
    duplicate = client.post("/api/v1/patients/", body, format="json")
    assert duplicate.status_code == 400 and "external_id" in duplicate.json()["error"]["fields"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"state": "XX"}, "state"),
        ({"allergies": ["NOT_A_GROUP"]}, "allergies"),
    ],
)
def test_bad_patients_are_refused(api_as, rivera, ready, change, field):
    body = {"first_name": "Ana", "last_name": "Diaz", "date_of_birth": "1980-05-05", "address_line1": "9 Elm", "city": "Fresno",
            "state": "CA", "postal_code": "93650", **change}
    response = api_as(rivera.user).post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert Patient.objects.count() == 0


@pytest.mark.parametrize(
    "body, field",
    [
        (order_body(preparations=[]), "preparations"),
        (order_body(preparations=[order_body()["preparations"][0]] * 100), "preparations"),
        (order_body(patient={"first_name": "A", "last_name": "B", "date_of_birth": "2999-01-01"}), "patient"),
        (order_body(patient_id=str(uuid.uuid4()), patient=None), None),  # unknown patient: 404
        (order_body(external_id="x" * 101), "external_id"),
        (order_body(ship_to={"state": "CA"}), "ship_to"),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_half_saved(api_as, rivera, ready, body, field):
    response = post(api_as(rivera.user), body)
    if field is None:
        assert response.status_code == 404
    else:
        assert response.status_code == 400, response.json()
        assert field in response.json()["error"]["fields"]
    assert (Order.objects.count(), Patient.objects.count()) == (0, 0)


def test_markup_in_free_text_is_stored_as_text(api_as, rivera, ready):
    evil = '<img src=x onerror=alert(1)>'
    body = order_body(external_id=evil, clinical_difference_note=evil,
                      patient={"first_name": evil, "last_name": "<script>alert(2)</script>", "date_of_birth": "1990-01-01"})
    body["preparations"][0]["directions"] = evil
    data = post(api_as(rivera.user), body).json()
    assert data["external_id"] == evil and data["patient"]["first_name"] == evil
    assert data["preparations"][0]["directions"] == evil


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_endpoints_use_constant_queries(api_as, rivera, ready):
    client = api_as(rivera.user)
    post(client, order_body(), key="k0")
    client.get("/api/v1/orders/")
    one = (_count(client, "/api/v1/orders/"), _count(client, "/api/v1/patients/"))
    for i in range(1, 50):
        post(client, order_body(patient={"first_name": f"P{i}", "last_name": "Many", "date_of_birth": "1990-01-01"}), key=f"k{i}")
    assert Order.objects.count() == 50
    many = (_count(client, "/api/v1/orders/"), _count(client, "/api/v1/patients/"))
    assert one == many


def test_an_inline_patient_known_by_external_id_keeps_their_recorded_allergies(api_as, rivera, ready):
    client = api_as(rivera.user)
    client.post("/api/v1/patients/", {"first_name": "Ana", "last_name": "Diaz", "date_of_birth": "1980-05-05", "address_line1": "9 Elm",
                                      "city": "Fresno", "state": "CA", "postal_code": "93650", "allergies": ["TREE_NUTS"],
                                      "external_id": "EHR-P-9"}, format="json")
    body = order_body(patient={"first_name": "Ana", "last_name": "Diaz", "date_of_birth": "1980-05-05", "external_id": "EHR-P-9"})
    body["preparations"][0]["ingredients"].append({"ingredient": "sweet-almond-oil", "percent": 5})
    response = post(client, body)
    assert response.status_code == 422
    assert "PATIENT_ALLERGY" in {f["code"] for f in response.json()["error"]["fields"]["preparations"][0]["findings"]}


def test_etag_and_if_match(api_as, rivera, pharmacist, ready):
    client = api_as(rivera.user)
    order = post(client, order_body()).json()
    first = client.get(f"/api/v1/orders/{order['id']}/")
    tag = first["ETag"]
    assert tag == f'W/"{order["id"]}.1"'
    # the pharmacist asks a question: the order changes, the old tag is stale
    api_as(pharmacist).post(f"/api/v1/orders/{order['id']}/request-clarification/", {"question": "Which arm?"}, format="json",
                            HTTP_IF_MATCH=tag)
    stale = client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json", HTTP_IF_MATCH=tag)
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    assert Order.objects.get(public_id=order["id"]).status == "clarification_requested"
    fresh = client.get(f"/api/v1/orders/{order['id']}/")["ETag"]
    done = client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json", HTTP_IF_MATCH=fresh)
    assert done.status_code == 200 and done["ETag"] != fresh and done.json()["status"] == "cancelled"


def _preparation(n: int, **overrides) -> dict:
    prep = {"base": "cream-base-pf", "quantity": 50 + n, "unit": "g", "target_ph": 5.0, "directions": f"Apply nightly ({n}).",
            "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 2 + n}]}
    return prep | overrides


def _submit_queries(client, preparations: list[dict], key: str) -> int:
    body = order_body(preparations=preparations, patient={"first_name": "Q", "last_name": key, "date_of_birth": "1990-01-01"})
    with CaptureQueriesContext(connection) as ctx:
        response = post(client, body, key=key)
    assert response.status_code == 201, response.json()
    return len(ctx.captured_queries)


def test_submit_queries_do_not_grow_with_the_preparations(api_as, rivera, ready):
    """One insert of the preparations, one look-up of their master formulation records, whatever their number
    (the records already exist: a new formulation's first order also proposes its draft)."""
    client = api_as(rivera.user)
    preparations = [_preparation(n) for n in range(1, 5)]
    _submit_queries(client, preparations, key="warm")  # proposes the four drafts
    one = _submit_queries(client, preparations[:1], key="one")
    three = _submit_queries(client, preparations[:3], key="three")
    four = _submit_queries(client, preparations, key="four")
    assert one == three == four
    assert Order.objects.get(external_id="EHR-77", patient__last_name="four").preparations.count() == 4


def test_the_submit_answer_is_the_order_as_saved(api_as, rivera, ready):
    """The answer is built from the objects in hand, not read back: it must say exactly what a read of the order says,
    numbers as the database keeps them included."""
    client = api_as(rivera.user)
    preparations = [_preparation(1, quantity="30.125", target_ph="5.55"), _preparation(2, refills=2, refill_interval_days=30),
                    _preparation(1, quantity="30.125", target_ph="5.55")]  # the same formulation twice: one MFR draft
    response = post(client, order_body(preparations=preparations))
    assert response.status_code == 201, response.json()
    answer = response.json()
    read = client.get(f"/api/v1/orders/{answer['id']}/")
    assert answer == read.json()
    assert answer["preparations"][0]["quantity"] == 30.125 and answer["preparations"][0]["target_ph"] == 5.55
    assert answer["preparations"][0]["mfr"] == answer["preparations"][2]["mfr"] != answer["preparations"][1]["mfr"]
    replay = post(client, order_body(preparations=preparations))
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == answer


def test_each_event_and_webhook_of_an_order_is_numbered_in_turn(api_as, rivera, pharmacist, ready):
    """The first event is created with the order (no counter update); the ones after it count on from there."""
    from fulfillment.models import WebhookEvent
    from orders import services

    client = api_as(rivera.user)
    data = post(client, order_body()).json()
    order = Order.objects.get(public_id=data["id"])
    assert order.event_sequence == 1 and order.webhook_sequence == 1
    services.order_cancel(order=order, by=rivera.user, reason="changed my mind")
    assert list(OrderEvent.objects.filter(order=order).order_by("pk").values_list("sequence", "kind")) == [(1, "signed"),
                                                                                                            (2, "cancelled")]
    assert list(WebhookEvent.objects.filter(order=order).order_by("pk").values_list("sequence", flat=True)) == [1, 2]
