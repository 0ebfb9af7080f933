"""FHIR test helpers: the core specification's compound example adapted to our formulary, posting
with the FHIR content type, and validation of every resource we answer with the FHIR library."""

from __future__ import annotations

import copy
import json

from fhir.resources.R4B import get_fhir_model_class

from fulfillment.fhir import systems

FHIR = "application/fhir+json"


def valid(resource: dict) -> dict:
    """The resource parses as FHIR R4 with the library (a Bundle validates every entry's resource too), and has
    none of what FHIR JSON forbids but the library lets through: empty arrays, objects or strings."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)

    def walk(value, path):
        assert value not in ([], {}, ""), f"empty value at {path}"
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(resource, resource["resourceType"])
    return resource


def post(client, path: str, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, content_type=headers.pop("content_type", FHIR), **headers)


def ratio(value, unit="g", per=100, per_unit="g") -> dict:
    return {"numerator": {"value": value, "unit": unit, "system": systems.UCUM, "code": unit},
            "denominator": {"value": per, "unit": per_unit, "system": systems.UCUM, "code": per_unit}}


def coded(code: str, display: str = "") -> dict:
    coding = {"system": systems.FORMULARY, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


PATIENT = {
    "resourceType": "Patient", "id": "pat",
    "identifier": [{"system": "https://ehr.example/patients", "value": "P-77"}],
    "name": [{"use": "official", "family": "Lopez", "given": ["Maya"]}],
    "gender": "female", "birthDate": "1991-04-12",
    "address": [{"use": "home", "line": ["1 Main St"], "city": "Oakland", "state": "CA", "postalCode": "94601"}],
}


def compound_request(npi: str, *, identifier: str = "ehr-rx-1001", ingredients: list | None = None, patient: dict | None = None,
                     quantity: dict | None = None) -> dict:
    """The core specification's compound MedicationRequest (a contained Medication with a vehicle and two strengths
    as Ratios, refills, directions, a topical route), adapted to our formulary: niacinamide 4 % with the
    phenoxyethanol blend 1 % (named by its text, as a platform without our codes would) in the preservative-free cream."""
    medication = {
        "resourceType": "Medication", "id": "med0309",
        "code": {"text": "Niacinamide 4 % cream, preserved"},
        "form": {"coding": [{"system": systems.SNOMED, "code": "385099005", "display": "Cream"}]},
        "ingredient": ingredients if ingredients is not None else [
            {"itemCodeableConcept": coded("cream-base-pf"), "isActive": False},
            {"itemCodeableConcept": coded("niacinamide", "Niacinamide"), "isActive": True, "strength": ratio(4)},
            {"itemCodeableConcept": {"text": "Phenoxyethanol/ethylhexylglycerin 90:10"}, "isActive": True, "strength": ratio(1)},
        ],
    }
    return {
        "resourceType": "MedicationRequest",
        "contained": [medication, copy.deepcopy(patient or PATIENT)],
        "identifier": [{"system": "https://ehr.example/rx", "value": identifier}],
        "status": "active", "intent": "order",
        "medicationReference": {"reference": "#med0309"},
        "subject": {"reference": "#pat"},
        "requester": {"identifier": {"system": systems.NPI, "value": npi}},
        "dosageInstruction": [{"text": "Apply nightly.", "route": {"coding": [{"system": systems.SNOMED, "code": "6064005"}]}}],
        "dispenseRequest": {"numberOfRepeatsAllowed": 1,
                            "quantity": quantity or {"value": 50, "unit": "g", "system": systems.UCUM, "code": "g"}},
    }


# The same order through /api/v1/orders/.
API_BODY = {
    "external_id": "ehr-rx-1001",
    "patient": {"external_id": "P-77", "first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "sex": "female"},
    "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
    "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "route": "topical", "directions": "Apply nightly.",
                      "refills": 1, "ingredients": [{"ingredient": "niacinamide", "percent": 4}, {"ingredient": "pe9010", "percent": 1}]}],
}


def as_bundle(request: dict, *, patient: dict | None = None, allergies: list | None = None, more: list | None = None) -> dict:
    """The same prescription as a transaction Bundle: the Patient as its own entry, referenced by fullUrl."""
    request = copy.deepcopy(request)
    pat = copy.deepcopy(patient or next(r for r in request["contained"] if r["resourceType"] == "Patient"))
    pat.pop("id", None)
    request["contained"] = [r for r in request["contained"] if r["resourceType"] != "Patient"]
    request["subject"] = {"reference": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a01"}
    entries = [{"fullUrl": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a01", "resource": pat,
                "request": {"method": "POST", "url": "Patient"}}]
    for i, allergy in enumerate(allergies or []):
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}", "resource": allergy,
                        "request": {"method": "POST", "url": "AllergyIntolerance"}})
    entries.append({"fullUrl": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a02", "resource": request,
                    "request": {"method": "POST", "url": "MedicationRequest"}})
    for extra in more or []:
        entries.append({"resource": extra, "request": {"method": "POST", "url": "MedicationRequest"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def allergy(group: str, text: str = "") -> dict:
    code = {"coding": [{"system": systems.ALLERGEN_GROUP, "code": group}]} if group else {"text": text}
    return {"resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": "active"}]},
            "code": code, "patient": {"reference": "urn:uuid:6a3f6d52-7a4e-4b53-9f4e-2f7d1b0c1a01"}}


def issues(response) -> list[dict]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    valid(body)
    return body["issue"]


def codes(response) -> set[str]:
    return {coding["code"] for issue in issues(response) for coding in issue.get("details", {}).get("coding", [])}
