"""POST /api/v1/orders/validate/: the engine over the real database, scoped to the caller."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from formulary.models import LotStatus, Material, StockLot
from orders.models import Patient
from orders.rules.engine import RULES_VERSION
from portal.demo import _demo_pharmacy
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
URL = "/api/v1/orders/validate/"


@pytest.fixture
def pharmacy(db):
    return _demo_pharmacy()  # licensed everywhere but IA; NV expired


@pytest.fixture
def stocked(formulary, pharmacy, technician):
    from portal.demo import _demo_stock

    _demo_stock(technician)


@pytest.fixture
def rivera_patient(rivera, formulary):
    patient = Patient.objects.create(clinic=rivera.clinic, first_name="Maya", last_name="Lopez", date_of_birth=dt.date(1991, 4, 12),
                                     address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")
    from formulary.models import AllergenGroup

    patient.allergies.set([AllergenGroup.objects.get(code="TREE_NUTS")])
    return patient


def body(**overrides):
    data = {
        "external_id": "EXT-1",
        "patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
        "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
        "preparations": [
            {"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
             "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]},
        ],
    }
    data.update(overrides)
    return data


def test_answer_has_every_field_the_contract_names(api_as, rivera, stocked):
    response = api_as(rivera.user).post(URL + "?detail=full", body(), format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["ok"] is True and data["external_id"] == "EXT-1"
    assert data["rules_version"].startswith(f"rules {RULES_VERSION}; formulary 2026-11-29.r")
    prep = data["preparations"][0]
    for key in ("findings", "aqueous", "preserved", "beyond_use_days", "beyond_use_date", "storage", "base_percent", "substances"):
        assert key in prep
    assert prep["aqueous"] and prep["preserved"] and prep["beyond_use_days"] == 35 and prep["storage"] == "room_or_refrigerate"
    assert prep["beyond_use_date"] == (timezone.localdate() + dt.timedelta(days=35)).isoformat()
    assert prep["base_percent"] == 95.0
    assert {"substance": "phenoxyethanol", "inci": "Phenoxyethanol", "percent": 0.9} in prep["substances"]
    assert [f["code"] for f in prep["findings"]] == ["AW_NOT_MEASURED"]
    assert set(prep["findings"][0]) == {"code", "title", "severity", "ingredient", "substance", "message"}
    lines = {line["item"]: line for line in prep["batch"]["lines"]}
    assert lines["niacinamide"]["quantity"] == 2.1 and lines["niacinamide"]["lots"][0]["lot_number"] == "NIACINAMID-01"


def test_the_default_answer_leaves_out_the_substances_and_the_batch(api_as, rivera, stocked):
    """Issue 22: only ?detail=full sends them; the rest of the answer is the same as with it."""
    client = api_as(rivera.user)
    short = client.post(URL, body(), format="json")
    full = client.post(URL + "?detail=full", body(), format="json")
    assert short.status_code == 200 and full.status_code == 200, (short.content[:300], full.content[:300])
    prep, full_prep = short.json()["preparations"][0], full.json()["preparations"][0]
    assert "substances" not in prep and "batch" not in prep
    assert full_prep["substances"] and full_prep["batch"]["lines"]
    assert prep == {key: value for key, value in full_prep.items() if key not in ("substances", "batch")}
    assert {key: value for key, value in short.json().items() if key != "preparations"} == \
        {key: value for key, value in full.json().items() if key != "preparations"}


def test_an_unknown_detail_is_refused_in_words(api_as, rivera, stocked):
    response = api_as(rivera.user).post(URL + "?detail=everything", body(), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"detail": ["Only 'full' is known."]} and "?detail=full" in error["message"]


def test_session_sign_in_works_too(client, rivera, password, stocked):
    sign_in(client, rivera.user, password)
    response = client.post(URL, json.dumps(body()), content_type="application/json")
    assert response.status_code == 200


def test_errors_make_ok_false_in_order(api_as, rivera, stocked):
    data = body(preparations=[
        {"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily."},
        {"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "ingredients": [{"ingredient": "staphylococcus-hominis-a9", "percent": 1}]},
    ])
    answer = api_as(rivera.user).post(URL, data, format="json").json()
    assert answer["ok"] is False
    assert answer["preparations"][0]["ok"] is True
    assert "INVESTIGATIONAL_BIOLOGIC" in [f["code"] for f in answer["preparations"][1]["findings"]]


def test_unknown_codes_are_findings_not_crashes(api_as, rivera, stocked):
    data = body(preparations=[{"base": "nope", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "ingredients": [{"ingredient": "ghost", "percent": 1}]}])
    response = api_as(rivera.user).post(URL, data, format="json")
    assert response.status_code == 200
    assert {"UNKNOWN_BASE", "UNKNOWN_INGREDIENT"} <= {f["code"] for f in response.json()["preparations"][0]["findings"]}


def test_prescriber_licences_come_from_the_database(api_as, chen, stocked):
    data = body(ship_to={"state": "TX"})
    codes = {f["code"] for f in api_as(chen.user).post(URL, data, format="json").json()["preparations"][0]["findings"]}
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" in codes
    data = body(ship_to={"state": "TX"}, encounter_state="CA")  # seen in CA, shipped to TX
    codes = {f["code"] for f in api_as(chen.user).post(URL, data, format="json").json()["preparations"][0]["findings"]}
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" not in codes


def test_pharmacy_licences_come_from_the_database(api_as, rivera, stocked):
    for state, fires in (("NV", True), ("IA", True), ("NY", False)):
        data = body(ship_to={"state": state}, encounter_state="CA")
        codes = {f["code"] for f in api_as(rivera.user).post(URL, data, format="json").json()["preparations"][0]["findings"]}
        assert ("PHARMACY_NOT_LICENSED_FOR_DESTINATION" in codes) is fires, state


def test_stock_comes_from_the_database_fefo_and_caps_the_bud(api_as, rivera, stocked):
    today = timezone.localdate()
    material = Material.objects.get(code="niacinamide")
    StockLot.objects.create(material=material, lot_number="NIA-SOON", supplier="S", received_on=today - dt.timedelta(days=5),
                            expires_on=today + dt.timedelta(days=12), quantity_received=50, quantity_on_hand=50, status=LotStatus.RELEASED)
    StockLot.objects.create(material=material, lot_number="NIA-DEAD", supplier="S", received_on=today - dt.timedelta(days=500),
                            expires_on=today - dt.timedelta(days=1), quantity_received=50, quantity_on_hand=50, status=LotStatus.RELEASED)
    StockLot.objects.create(material=material, lot_number="NIA-QUAR", supplier="S", received_on=today,
                            expires_on=today + dt.timedelta(days=2), quantity_received=50, quantity_on_hand=50, status=LotStatus.QUARANTINED)
    prep = api_as(rivera.user).post(URL + "?detail=full", body(), format="json").json()["preparations"][0]
    lines = {line["item"]: line for line in prep["batch"]["lines"]}
    assert [lot["lot_number"] for lot in lines["niacinamide"]["lots"]] == ["NIA-SOON"]
    assert prep["beyond_use_days"] == 12
    assert "BUD_LIMITED_BY_COMPONENT" in {f["code"] for f in prep["findings"]}


def test_patient_id_brings_the_patients_allergies(api_as, rivera, rivera_patient, stocked):
    data = body(patient=None, patient_id=str(rivera_patient.public_id), ship_to=None)
    data["preparations"][0]["ingredients"].append({"ingredient": "sweet-almond-oil", "percent": 5})
    response = api_as(rivera.user).post(URL, data, format="json")
    assert response.status_code == 200, response.json()
    codes = {f["code"] for f in response.json()["preparations"][0]["findings"]}
    assert "PATIENT_ALLERGY" in codes  # ship_to defaulted to the patient's CA address


def test_another_clinics_patient_is_not_found(api_as, chen, rivera_patient, stocked):
    data = body(patient=None, patient_id=str(rivera_patient.public_id))
    response = api_as(chen.user).post(URL, data, format="json")
    assert response.status_code == 404
    assert "Maya" not in response.content.decode()


def test_no_patient_is_a_finding(api_as, rivera, stocked):
    answer = api_as(rivera.user).post(URL, body(patient=None), format="json").json()
    assert "NO_IDENTIFIED_PATIENT" in {f["code"] for f in answer["preparations"][0]["findings"]}


def test_pharmacy_staff_name_the_prescriber(api_as, pharmacist, rivera, stocked):
    client = api_as(pharmacist)
    missing = client.post(URL, body(), format="json")
    assert missing.status_code == 400 and "prescriber_npi" in missing.json()["error"]["fields"]
    named = client.post(URL, body(prescriber_npi=rivera.npi), format="json")
    assert named.status_code == 200 and named.json()["ok"]


def test_a_platform_account_without_a_clinic_is_refused(api_as, stocked):
    from tests.factories import UserFactory

    assert api_as(UserFactory(username="platform1", role="platform")).post(URL, body(), format="json").status_code == 403


def test_nothing_is_saved(api_as, rivera, stocked):
    client = api_as(rivera.user)
    client.post(URL, body(), format="json")  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as ctx:
        assert client.post(URL, body(), format="json").status_code == 200
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []


def test_query_count_does_not_grow_with_ingredients(api_as, rivera, stocked):
    client = api_as(rivera.user)
    client.post(URL, body(), format="json")
    few = body(preparations=[{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "ingredients": [{"ingredient": "niacinamide", "percent": 4}]}])
    many_lines = [{"ingredient": c, "percent": p} for c, p in [
        ("niacinamide", 4), ("panthenol", 1), ("allantoin", "0.5"), ("glycerin", 3), ("ceramide-np", 1), ("squalane", 2),
        ("bifida-ferment-lysate", 2), ("inulin", 1), ("sodium-hyaluronate", "0.5"), ("pe9010", 1)]]
    many = body(preparations=[{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "ingredients": many_lines}] * 3)
    counts = []
    for data in (few, many):
        with CaptureQueriesContext(connection) as ctx:
            assert client.post(URL, data, format="json").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_exclusions_and_allergies_read_no_more_rows(api_as, rivera, stocked):
    """The allergen groups a body names are checked against the request's formulary facts, not read again per
    preparation and for the patient (issue 22: nothing the engine needs read more than once per request)."""
    client = api_as(rivera.user)
    client.post(URL, body(), format="json")
    prep = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.",
            "ingredients": [{"ingredient": "niacinamide", "percent": 4}]}
    plain = body(preparations=[prep] * 3)
    excluding = body(patient={"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "allergies": ["TREE_NUTS"]},
                     preparations=[{**prep, "exclusions": {"allergen_groups": ["FRAGRANCE", "PARABENS"]}}] * 3)
    counts = []
    for data in (plain, excluding):
        with CaptureQueriesContext(connection) as ctx:
            assert client.post(URL, data, format="json").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    refused = client.post(URL, body(preparations=[{**prep, "exclusions": {"allergen_groups": ["FRAGRANCE", "NOT_A_GROUP"]}}]), format="json")
    assert refused.status_code == 400 and "Unknown allergen group(s): NOT_A_GROUP." in str(refused.json())


def bad(client, data, raw=None):
    if raw is not None:
        response = client.generic("POST", URL, raw, content_type="application/json")
    else:
        response = client.post(URL, data, format="json")
    assert response.status_code == 400, response.content[:300]
    return response.json()["error"]


def prep_with(**fields):
    base = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "ingredients": [{"ingredient": "niacinamide", "percent": 4}]}
    base.update(fields)
    return body(preparations=[base])


@pytest.mark.parametrize(
    "data, path",
    [
        (body(preparations=[]), ["preparations"]),
        ({k: v for k, v in body().items() if k != "preparations"}, ["preparations"]),
        (prep_with(quantity=0), ["preparations", "0", "quantity"]),
        (prep_with(quantity="lots"), ["preparations", "0", "quantity"]),
        (prep_with(unit="kg"), ["preparations", "0", "unit"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide", "percent": -1}]), ["preparations", "0", "ingredients", "0", "percent"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide", "percent": "abc"}]), ["preparations", "0", "ingredients", "0", "percent"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide", "percent": "NaN"}]), ["preparations", "0", "ingredients", "0", "percent"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide", "percent": "Infinity"}]), ["preparations", "0", "ingredients", "0", "percent"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide"}]), ["preparations", "0", "ingredients", "0", "percent"]),
        (prep_with(ingredients=[{"ingredient": "niacinamide", "percent": 1}] * 200), ["preparations", "0", "ingredients"]),
        (prep_with(target_ph=15), ["preparations", "0", "target_ph"]),
        (prep_with(water_activity=1.5), ["preparations", "0", "water_activity"]),
        (prep_with(route="intergalactic"), ["preparations", "0", "route"]),
        (prep_with(exclusions={"allergen_groups": ["NOPE"]}), ["preparations", "0", "exclusions", "allergen_groups"]),
        (prep_with(compounding_date="2020-01-01"), ["preparations", "0", "compounding_date"]),
        (body(ship_to={"state": "ZZ"}), ["ship_to", "state"]),
        (body(ship_to=None), ["ship_to"]),
        (body(preparations="cream"), ["preparations"]),
    ],
)
def test_bad_bodies_are_400_with_field_errors(api_as, rivera, stocked, data, path):
    error = bad(api_as(rivera.user), data)
    node = error["fields"]
    for key in path:
        assert key in node or (key.isdigit() and isinstance(node, dict) and int(key) in node), (path, error)
        node = node[key] if key in node else node[int(key)]
    assert node


@pytest.mark.parametrize("raw", ['{"preparations": [', "[]", '"text"', '{"preparations": [{"base": "cream-base-pf", "quantity": NaN, "unit": "g"}]}'])
def test_malformed_json_is_400(api_as, rivera, stocked, raw):
    assert bad(api_as(rivera.user), None, raw=raw)["code"] in ("parse_error", "validation_error")


def test_a_megabyte_body_is_400(api_as, rivera, stocked):
    huge = json.dumps(body(external_id="x" * (1024 * 1024)))
    error = bad(api_as(rivera.user), None, raw=huge)
    assert "larger than" in error["message"]


def test_validate_reads_the_formulary_revision_prescriber_licences_and_lots_once_each(api_as, rivera, stocked):
    """Issue 22: after the token, a validate reads the formulary's revision, the prescriber, both licence lists (one
    UNION ALL) and the usable lots (their codes, numbers, dates and stock only) — four queries, whatever the body."""
    client = api_as(rivera.user)
    client.post(URL, body(), format="json")
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(URL + "?detail=full", body(), format="json")
    assert response.status_code == 200
    sql = [q["sql"] for q in ctx.captured_queries]
    after_token = sql[[i for i, s in enumerate(sql) if "formulary_formularystate" in s][0]:]
    assert len(after_token) == 4, after_token
    assert "UNION ALL" in after_token[2] and "portal_pharmacylicence" in after_token[2] and "orders_prescriberlicence" in after_token[2]
    assert "formulary_stocklot" in after_token[3] and "supplier" not in after_token[3]
    lines = {line["item"]: line for line in response.json()["preparations"][0]["batch"]["lines"]}
    # A base's lots and a material's lots both come back under their own codes.
    assert lines["cream-base-pf"]["lots"] and lines["niacinamide"]["lots"]
