"""Request examples for the API documentation: shown in the docs page, and sent by schemathesis'
examples phase (tests/integration/test_api_fuzz.py), so each must be a body the portal accepts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample


def request_example(name: str, value: dict, description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True, description=description)


ORDER = request_example("One preserved cream", {
    "patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "allergies": []},
    "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
    "preparations": [{
        "base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply a thin layer nightly.",
        "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}],
    }],
}, "A new patient inline; or send `patient_id` for one the clinic keeps.")
PATIENT = request_example("A patient", {
    "external_id": "EHR-20931", "first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "sex": "female",
    "email": "maya@example.com", "address_line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601",
    "allergies": [],
})
CANCEL = request_example("Cancel", {"reason": "The patient asked to stop."})
APPROVE = request_example("Approve", {"acknowledged_warnings": []})
REJECT = request_example("Reject", {"reason": "Niacinamide above 10 % is outside our formulary."})
CLARIFY = request_example("Ask", {"question": "Is the 4 % niacinamide intended for the face?"})
QC = request_example("QC", {"ph": 5.1, "appearance_ok": True, "fill_weight": 50.4})
WEBHOOK = request_example("Status changes", {"url": "https://ehr.example.com/hooks/compounding", "event_types": ["order.status_changed"],
                                             "description": "EHR status feed"})
TOKEN = request_example("Prescriber", {"username": "dr.rivera", "password": "…", "otp": "123456"})
