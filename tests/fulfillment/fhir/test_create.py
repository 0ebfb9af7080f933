"""FHIR in: MedicationRequest and transaction Bundle creates go through the order API's own validation,
rules engine, idempotency and scoping; every refusal is an OperationOutcome that names the element."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
from django.db import DatabaseError

from fulfillment.fhir import systems
from orders import services as order_services
from orders.models import IdempotencyKey, Order, Patient
from portal.errors import ServiceError
from tests.fulfillment.fhir.builders import (
    API_BODY,
    FHIR,
    allergy,
    as_bundle,
    coded,
    codes,
    compound_request,
    issues,
    post,
    ratio,
    valid,
)

pytestmark = pytest.mark.django_db

SNAPSHOT = ("base_code", "base_name", "quantity", "unit", "route", "directions", "refills", "refills_remaining", "exclusions",
            "ingredients", "beyond_use_days", "storage", "target_ph")


def snapshot(order: Order) -> list[dict]:
    return [{**{field: getattr(p, field) for field in SNAPSHOT}, "findings": p.checked["findings"],
             "beyond_use_date": p.checked["beyond_use_date"]} for p in order.preparations.order_by("position")]


def api_order(api_as, prescriber, body=API_BODY) -> Order:
    response = api_as(prescriber.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    return Order.objects.get(public_id=response.json()["id"])


def order_of(resource: dict) -> Order:
    return Order.objects.get(preparations__public_id=resource["id"])


# --- It must show -------------------------------------------------------------------------

def test_the_core_compound_example_as_a_medication_request_makes_the_same_order_as_the_api(api_as, rivera, ready):
    client = api_as(rivera.user)
    response = post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    assert response.status_code == 201, response.json()
    assert response["Content-Type"].startswith(FHIR)
    resource = valid(response.json())
    assert response["Location"].startswith(f"MedicationRequest/{resource['id']}/_history/")
    fhir_order = order_of(resource)
    Patient.objects.filter(external_id="P-77").update(external_id="P-77-first")  # the API order makes its own patient
    through_api = api_order(api_as, rivera)
    assert snapshot(fhir_order) == snapshot(through_api)
    assert (fhir_order.rules_version, fhir_order.external_id, fhir_order.status) == (through_api.rules_version, "ehr-rx-1001",
                                                                                     "submitted")
    assert resource["status"] == "active" and resource["groupIdentifier"]["value"] == fhir_order.number
    assert {i["value"] for i in resource["identifier"]} >= {"ehr-rx-1001"}
    medication = resource["contained"][0]
    assert [(i["itemCodeableConcept"]["coding"][0]["code"], i.get("strength", {}).get("numerator", {}).get("value"))
            for i in medication["ingredient"]] == [("cream-base-pf", None), ("niacinamide", 4), ("pe9010", 1)]


def test_the_same_example_as_a_transaction_bundle_makes_the_same_order(api_as, rivera, ready):
    response = post(api_as(rivera.user), "/fhir/r4/", as_bundle(compound_request(rivera.npi)))
    assert response.status_code == 200, response.json()
    bundle = valid(response.json())
    assert bundle["type"] == "transaction-response"
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "201 Created"]
    location = bundle["entry"][1]["response"]["location"]
    fhir_order = Order.objects.get(preparations__public_id=location.split("/")[1])
    assert bundle["entry"][0]["response"]["location"] == f"Patient/{fhir_order.patient.public_id}"
    Patient.objects.filter(external_id="P-77").update(external_id="P-77-first")
    assert snapshot(fhir_order) == snapshot(api_order(api_as, rivera))


def test_a_live_culture_is_refused_with_the_rule_code_and_a_path_to_the_ingredient(api_as, rivera, ready):
    ingredients = [
        {"itemCodeableConcept": coded("cream-base-pf"), "isActive": False},
        {"itemCodeableConcept": coded("niacinamide"), "isActive": True, "strength": ratio(4)},
        {"itemCodeableConcept": coded("lactobacillus-rhamnosus-live"), "isActive": True, "strength": ratio(1)},
    ]
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", compound_request(rivera.npi, ingredients=ingredients))
    assert response.status_code == 422
    live = [i for i in issues(response) if i["details"]["coding"][0]["code"] == "LIVE_ORGANISM_NOT_COMPOUNDABLE"]
    assert live and live[0]["severity"] == "error" and live[0]["code"] == "business-rule"
    assert live[0]["details"]["coding"][0]["system"] == systems.RULE
    assert live[0]["details"]["coding"][0]["display"] == "Live organisms"  # the rule's plain title
    assert live[0]["expression"] == ["MedicationRequest.contained[0].ingredient[2]"]
    assert "live" in live[0]["diagnostics"].lower()
    assert Order.objects.count() == 0 and Patient.objects.count() == 0


def test_an_unknown_ingredient_is_refused_by_code_and_by_name_with_candidates(api_as, rivera, ready):
    client = api_as(rivera.user)
    by_code = [{"itemCodeableConcept": coded("cream-base-pf"), "isActive": False},
               {"itemCodeableConcept": coded("unicorn-dust"), "isActive": True, "strength": ratio(2)}]
    response = post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi, ingredients=by_code))
    assert response.status_code == 422
    unknown = [i for i in issues(response) if i["details"]["coding"][0]["code"] == "UNKNOWN_INGREDIENT"]
    assert unknown[0]["expression"] == ["MedicationRequest.contained[0].ingredient[1]"]
    by_name = [{"itemCodeableConcept": coded("cream-base-pf"), "isActive": False},
               {"itemCodeableConcept": {"text": "Lactobacillus"}, "isActive": True, "strength": ratio(2)}]
    response = post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi, ingredients=by_name))
    assert response.status_code == 422
    [issue] = issues(response)
    assert issue["expression"] == ["MedicationRequest.contained[0].ingredient[1].itemCodeableConcept"]
    assert "'Lactobacillus' is not one formulary ingredient" in issue["diagnostics"]
    assert "lactobacillus-ferment-lysate" in issue["diagnostics"]  # a candidate, named with its code
    assert Order.objects.count() == 0


def test_a_requester_of_another_clinic_is_refused_and_nothing_is_created(api_as, rivera, chen, ready):
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", compound_request(chen.npi))
    assert response.status_code == 403
    [issue] = issues(response)
    assert issue["code"] == "forbidden" and issue["expression"] == ["MedicationRequest.requester"]
    response = post(api_as(rivera.user), "/fhir/r4/", as_bundle(compound_request(chen.npi)))
    assert response.status_code == 403
    assert Order.objects.count() == 0 and Patient.objects.count() == 0


def test_posting_the_same_request_twice_with_if_none_exist_makes_one_order(api_as, rivera, ready):
    client = api_as(rivera.user)
    body = compound_request(rivera.npi)
    first = post(client, "/fhir/r4/MedicationRequest", body, HTTP_IF_NONE_EXIST="identifier=https://ehr.example/rx|ehr-rx-1001")
    again = post(client, "/fhir/r4/MedicationRequest", body, HTTP_IF_NONE_EXIST="identifier=https://ehr.example/rx|ehr-rx-1001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert valid(again.json())["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    # The condition is checked inside a Bundle too.
    bundle = as_bundle(body)
    bundle["entry"][1]["request"]["ifNoneExist"] = "identifier=ehr-rx-1001"
    response = post(client, "/fhir/r4/", bundle)
    assert response.status_code == 200 and response.json()["entry"][1]["response"]["status"] == "200 OK"
    assert Order.objects.count() == 1


def test_an_idempotency_key_replays_the_first_answer(api_as, rivera, ready):
    client = api_as(rivera.user)
    body = compound_request(rivera.npi)
    first = post(client, "/fhir/r4/MedicationRequest", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(client, "/fhir/r4/MedicationRequest", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201) and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and Order.objects.count() == 1
    other = copy.deepcopy(body)
    other["dispenseRequest"]["numberOfRepeatsAllowed"] = 2
    reused = post(client, "/fhir/r4/MedicationRequest", other, HTTP_IDEMPOTENCY_KEY="k-1")
    assert reused.status_code == 422 and "idempotency_key_reused" in codes(reused)
    assert IdempotencyKey.objects.filter(key="k-1", state="done").count() == 1


def test_free_text_compounds_resolve_against_names_and_synonyms(api_as, rivera, ready):
    body = compound_request(rivera.npi)
    body["contained"] = [body["contained"][1]]
    del body["medicationReference"]
    body["medicationCodeableConcept"] = {"text": "Niacinamide 4% / Lactobacillus ferment lysate 2% cream, preservative-free"}
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", body)
    assert response.status_code == 201, response.json()
    prep = order_of(valid(response.json())).preparations.get()
    assert prep.base_code == "cream-base-pf" and prep.exclusions["preservative_free"] is True
    assert [(line["ingredient"], line["percent"]) for line in prep.ingredients] == [("niacinamide", 4.0),
                                                                                    ("lactobacillus-ferment-lysate", 2.0)]
    synonym = copy.deepcopy(body)
    synonym["identifier"][0]["value"] = "ehr-rx-1002"
    synonym["medicationCodeableConcept"] = {"text": "Vitamin B3 5% + hyaluronic acid 1% in serum"}
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", synonym)
    assert response.status_code == 201, response.json()
    prep = order_of(response.json()).preparations.get()
    assert prep.base_code == "serum-base-pf" and [line["ingredient"] for line in prep.ingredients] == ["niacinamide",
                                                                                                        "sodium-hyaluronate"]


def test_free_text_names_each_unresolved_part_and_its_candidates(api_as, rivera, ready):
    body = compound_request(rivera.npi)
    body["contained"] = [body["contained"][1]]
    del body["medicationReference"]
    body["medicationCodeableConcept"] = {"text": "Niacinamid 4% / Lactobacillus 2% / Stardust 1% cream"}
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", body)
    assert response.status_code == 422
    found = issues(response)
    messages = " | ".join(i["diagnostics"] for i in found)
    assert "'Niacinamid' is not one formulary ingredient. Candidates: Niacinamide (niacinamide)" in messages
    assert "'Lactobacillus' is not one formulary ingredient. Candidates:" in messages and "lactobacillus-ferment-lysate" in messages
    assert "'Stardust' is not one formulary ingredient. No formulary item is close." in messages
    assert "The vehicle 'cream' is not one formulary base. Candidates:" in messages  # three creams; none preservative-free asked
    assert {tuple(i["expression"]) for i in found} == {("MedicationRequest.medicationCodeableConcept",)}
    assert Order.objects.count() == 0


def test_allergies_in_a_bundle_are_recorded_and_an_excluded_allergen_is_refused(api_as, rivera, ready):
    client = api_as(rivera.user)
    response = post(client, "/fhir/r4/", as_bundle(compound_request(rivera.npi), allergies=[allergy("FRAGRANCE"),
                                                                                             allergy("", text="parabens")]))
    assert response.status_code == 200, response.json()
    patient = Patient.objects.get(external_id="P-77")
    assert sorted(g.code for g in patient.allergies.all()) == ["FRAGRANCE", "PARABENS"]
    # An allergy named in supportingInformation is excluded from the preparation: soy-derived vitamin E is refused.
    request = compound_request(rivera.npi, identifier="ehr-rx-2", ingredients=[
        {"itemCodeableConcept": coded("cream-base-pf"), "isActive": False},
        {"itemCodeableConcept": coded("tocopherol-soy"), "isActive": True, "strength": ratio("0.5")}])
    request["supportingInformation"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}]
    bundle = as_bundle(request, allergies=[allergy("SOY")])
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "P-78"
    response = post(client, "/fhir/r4/", bundle)
    assert response.status_code == 422
    assert {"EXCLUDED_ALLERGEN", "PATIENT_ALLERGY"} & codes(response)
    unknown = post(client, "/fhir/r4/", as_bundle(compound_request(rivera.npi, identifier="x"), allergies=[allergy("", "moonlight")]))
    assert unknown.status_code == 422 and "unknown_allergen_group" in codes(unknown)
    assert Order.objects.count() == 1


def test_a_patient_the_clinic_keeps_is_referenced_by_id_or_identifier(api_as, rivera, ready):
    client = api_as(rivera.user)
    first = order_of(post(client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi)).json())
    by_id = compound_request(rivera.npi, identifier="ehr-rx-2")
    by_id["contained"] = by_id["contained"][:1]
    by_id["subject"] = {"reference": f"Patient/{first.patient.public_id}"}
    assert post(client, "/fhir/r4/MedicationRequest", by_id).status_code == 201
    by_identifier = copy.deepcopy(by_id)
    by_identifier["identifier"][0]["value"] = "ehr-rx-3"
    by_identifier["subject"] = {"identifier": {"system": "https://ehr.example/patients", "value": "P-77"}}
    assert post(client, "/fhir/r4/MedicationRequest", by_identifier).status_code == 201
    assert set(Order.objects.values_list("patient_id", flat=True)) == {first.patient_id}
    unknown = copy.deepcopy(by_identifier)
    unknown["subject"]["identifier"]["value"] = "P-404"
    response = post(client, "/fhir/r4/MedicationRequest", unknown)
    assert response.status_code == 422 and issues(response)[0]["expression"] == ["MedicationRequest.subject.identifier"]


# --- Bad input ------------------------------------------------------------------------------

def _drop_requester(body):
    del body["requester"]


def _zero_denominator(body):
    body["contained"][0]["ingredient"][1]["strength"]["denominator"]["value"] = 0


def _mismatched_units(body):
    body["contained"][0]["ingredient"][1]["strength"] = ratio(4, per_unit="mL")


def _unsupported_unit(body):
    body["contained"][0]["ingredient"][1]["strength"] = ratio(4000, unit="[iU]")


def _r5_shape(body):
    del body["medicationReference"]
    body["medication"] = {"reference": {"reference": "#med0309"}}


def _two_hundred(body):
    body["contained"][0]["ingredient"] = [{"itemCodeableConcept": coded("niacinamide"), "strength": ratio("0.1")}] * 200


def _bad_decimal(body):
    body["dispenseRequest"]["quantity"]["value"] = "fifty"


@pytest.mark.parametrize("change, status, where, words", [
    (_drop_requester, 422, "MedicationRequest.requester", "Name the prescriber"),
    (_zero_denominator, 422, "MedicationRequest.contained[0].ingredient[1].strength.denominator.value", "denominator is zero"),
    (_mismatched_units, 422, "MedicationRequest.contained[0].ingredient[1].strength.denominator", "per mL but the quantity"),
    (_unsupported_unit, 422, "MedicationRequest.contained[0].ingredient[1].strength.numerator", "'[iU]' is not supported"),
    (_r5_shape, 400, "MedicationRequest.medication", "R5 shape"),
    (_two_hundred, 422, "MedicationRequest.contained[0].ingredient", "at most 50 ingredients"),
    (_bad_decimal, 400, "MedicationRequest.dispenseRequest.quantity.value", "Decimal"),
])
def test_bad_medication_requests_answer_an_operation_outcome_and_create_nothing(api_as, rivera, ready, change, status, where, words):
    body = compound_request(rivera.npi)
    change(body)
    response = post(api_as(rivera.user), "/fhir/r4/MedicationRequest", body)
    assert response.status_code == status, response.json()
    found = issues(response)
    assert any(where in i.get("expression", [""])[0] and words in i["diagnostics"] for i in found), found
    assert Order.objects.count() == 0 and Patient.objects.count() == 0


def test_a_resource_of_the_wrong_type_is_refused(api_as, rivera, ready):
    client = api_as(rivera.user)
    response = post(client, "/fhir/r4/MedicationRequest", {"resourceType": "Patient", "name": [{"family": "Lopez"}]})
    assert response.status_code == 400
    [issue] = issues(response)
    assert "is a Patient; this endpoint takes a MedicationRequest" in issue["diagnostics"]
    assert (issue["expression"], issue["code"]) == (["MedicationRequest"], "structure")
    response = post(client, "/fhir/r4/", compound_request(rivera.npi))
    [issue] = issues(response)
    assert response.status_code == 400 and "takes a Bundle" in issue["diagnostics"]
    assert (issue["expression"], issue["code"]) == (["Bundle"], "structure")
    bundle = as_bundle(compound_request(rivera.npi))
    bundle["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}, "request": {"method": "POST"}})
    response = post(client, "/fhir/r4/", bundle)
    assert response.status_code == 422 and issues(response)[-1]["expression"] == ["Bundle.entry[2].resource"]
    assert "Bundle.entry[2] is a" in issues(response)[-1]["diagnostics"] and "Observation" in issues(response)[-1]["diagnostics"]
    assert Order.objects.count() == 0


def test_a_one_megabyte_bundle_is_refused_before_it_is_read(api_as, rivera, ready):
    bundle = as_bundle(compound_request(rivera.npi))
    bundle["entry"][0]["resource"]["name"][0]["text"] = "x" * (1024 * 1024)
    response = post(api_as(rivera.user), "/fhir/r4/", bundle)
    assert response.status_code == 413
    assert "larger than" in issues(response)[0]["diagnostics"]
    assert Order.objects.count() == 0


def test_a_bundle_failing_in_its_last_entry_creates_nothing(api_as, rivera, ready):
    good = compound_request(rivera.npi, identifier="ok-1")
    also_good = compound_request(rivera.npi, identifier="ok-2")
    also_good["contained"] = also_good["contained"][:1]
    also_good["subject"] = {"reference": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a01"}
    last = copy.deepcopy(also_good)
    last["identifier"][0]["value"] = "bad-3"
    last["contained"][0]["ingredient"].append({"itemCodeableConcept": coded("nitrosomonas-eutropha-d23"), "strength": ratio(1)})
    response = post(api_as(rivera.user), "/fhir/r4/", as_bundle(good, more=[also_good, last]))
    assert response.status_code == 422, response.json()
    assert {"LIVE_ORGANISM_NOT_COMPOUNDABLE", "INVESTIGATIONAL_BIOLOGIC"} & codes(response)
    assert all(i["expression"][0].startswith("Bundle.entry[3].resource") for i in issues(response) if i["severity"] == "error")
    assert Order.objects.count() == 0 and Patient.objects.count() == 0


@pytest.mark.parametrize("failure, status, kind", [
    (ServiceError("The patient's record changed while the order was written; send it again.", code="conflict", status=409),
     409, "conflict"),
    (DatabaseError("could not extend file: No space left on device"), 500, "exception"),
])
def test_a_bundle_whose_last_entry_fails_while_writing_leaves_the_first_two_unwritten(api_as, rivera, ready, monkeypatch,
                                                                                   failure, status, kind):
    """All three entries pass every check; the first two are written and the third's write fails: the first two
    are rolled back with it (one transaction for the Bundle), and the answer is an OperationOutcome."""
    requests = [compound_request(rivera.npi, identifier=f"ok-{n}") for n in (1, 2, 3)]
    for later in requests[1:]:
        later["contained"] = later["contained"][:1]
        later["subject"] = {"reference": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a01"}
    real_submit, calls = order_services.order_submit, []

    def submit_failing_third(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise failure
        return real_submit(**kwargs)

    monkeypatch.setattr(order_services, "order_submit", submit_failing_third)
    client = api_as(rivera.user)
    client.raise_request_exception = False  # the 500 is answered by the portal's handler, as a caller would see it
    response = post(client, "/fhir/r4/", as_bundle(requests[0], more=requests[1:]))
    assert len(calls) == 3  # the first two were written before the third failed
    assert response.status_code == status
    assert response["Content-Type"].split(";")[0] == FHIR
    assert [i["code"] for i in issues(response) if i["severity"] in ("error", "fatal")] == [kind]
    assert Order.objects.count() == 0 and Patient.objects.count() == 0


def test_json_only_and_the_plain_json_type_is_accepted(api_as, rivera, ready):
    client = api_as(rivera.user)
    xml = client.post("/fhir/r4/MedicationRequest", data="<MedicationRequest/>", content_type="application/fhir+xml")
    assert xml.status_code == 415 and issues(xml)[0]["code"] == "not-supported"
    broken = client.post("/fhir/r4/MedicationRequest", data="{not json", content_type=FHIR)
    assert broken.status_code == 400 and "not JSON" in issues(broken)[0]["diagnostics"]
    plain = client.post("/fhir/r4/MedicationRequest", data=json.dumps(compound_request(rivera.npi)), content_type="application/json")
    assert plain.status_code == 201


def test_signed_out_and_other_roles_are_refused(api_client, api_as, rivera, pharmacist, ready):
    response = post(api_client, "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token" and issues(response)[0]["code"] == "login"
    response = post(api_as(pharmacist), "/fhir/r4/MedicationRequest", compound_request(rivera.npi))
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_the_capability_statement_lists_what_is_supported(api_client):
    response = api_client.get("/fhir/r4/metadata")
    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR)
    statement = valid(response.json())
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {"MedicationRequest", "Task", "MedicationDispense", "Patient", "AllergyIntolerance"}
    assert {i["code"] for i in resources["MedicationRequest"]["interaction"]} == {"read", "search-type", "create"}
    assert {p["name"] for p in resources["MedicationRequest"]["searchParam"]} == {"identifier", "patient", "status", "_lastUpdated"}
    assert systems.PRESERVATIVE_FREE in resources["MedicationRequest"]["documentation"]
    assert statement["rest"][0]["interaction"] == [{"code": "transaction", "documentation": statement["rest"][0]["interaction"][0][
        "documentation"]}]
    assert api_client.get("/fhir/r4/Observation").status_code == 401  # anything else needs a token, then says not supported


def test_every_answer_under_fhir_is_an_operation_outcome(api_as, rivera, client, password):
    api = api_as(rivera.user)
    for path, status, kind in (("/fhir/r5/metadata", 404, "not-found"), ("/fhir/r4/Observation", 404, "not-supported"),
                               ("/fhir/r4/MedicationRequest?identifier=a%00b", 400, "invalid")):
        response = api.get(path)
        assert (response.status_code, response["Content-Type"].split(";")[0]) == (status, FHIR), path
        assert issues(response)[0]["code"] == kind, path
    # A session signed in with a password only is no way in (and no redirect to the two-factor page): tokens only.
    client.post("/accounts/login/", {"username": rivera.user.username, "password": password})
    assert "_auth_user_id" in client.session and "/accounts/two-factor/" in client.get("/orders/")["Location"]
    response = client.get("/fhir/r4/MedicationRequest")
    assert response.status_code == 401 and issues(response)[0]["code"] == "login"
