"""GET /fhir/r4/metadata: exactly what this server does, and nothing it does not."""

from __future__ import annotations

from django.conf import settings

from fulfillment.fhir import systems

PRESERVATIVE_FREE_TEXT = (
    f"Extension {systems.PRESERVATIVE_FREE} (valueBoolean), on the MedicationRequest or on its contained Medication: "
    "true excludes every preservative from the preparation (the base is chosen preservative-free, and an ingredient "
    "carrying a preservative is refused).")


def capability_statement() -> dict:
    base = settings.SITE_URL.rstrip("/") + "/fhir/r4"
    return {
        "resourceType": "CapabilityStatement",
        "id": "portal",
        "url": systems.CAPABILITY,
        "version": "1.0.0",
        "name": "CompoundingPortalFhir",
        "title": "Compounded topicals portal: FHIR R4 interface",
        "status": "active",
        "date": "2026-12-01",
        "publisher": settings.PHARMACY_NAME,
        "description": (
            "Telehealth platforms and prescribers send compounded topical prescriptions as MedicationRequest (with a "
            "contained Medication) or as a transaction Bundle, and read their fulfilment as Task and MedicationDispense. "
            "Authenticate with the portal's API token: 'Authorization: Token <token>'. JSON only."),
        "kind": "instance",
        "software": {"name": "Compounded topicals prescriber portal", "version": "1.0"},
        "implementation": {"description": "The pharmacy's prescriber portal", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every read is scoped to the caller's clinic (a platform's: the clinics it acts for); another clinic's "
                             "resources are not found.",
            "security": {"cors": False, "description": "Authorization: Token <token> (the portal's API tokens; a prescriber's "
                                                       "token orders under that prescriber's NPI; a telehealth platform's token for the "
                                                       "prescribers of the clinics the pharmacy linked it to, named by NPI)."},
            "resource": [
                {
                    "type": "MedicationRequest",
                    "documentation": (
                        "One per preparation. Create with a contained Medication whose ingredient[] carries our code "
                        f"(system {systems.FORMULARY}) or the name as text, and strength as a Ratio (g per 100 g, g per 100 mL, "
                        "or %); the vehicle is the ingredient with isActive false (or Medication.form). "
                        "medicationCodeableConcept.text alone is parsed against formulary names and synonyms. "
                        f"requester carries the prescriber's NPI ({systems.NPI}); subject a contained Patient, Patient/{{id}} "
                        "or an identifier the clinic gave the patient; supportingInformation AllergyIntolerance → "
                        f"excluded allergen groups ({systems.ALLERGEN_GROUP}). {PRESERVATIVE_FREE_TEXT} identifier → the "
                        "order's external id. If-None-Exist: identifier=[system|]value and Idempotency-Key make a "
                        "create safe to repeat."),
                    "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
                    "versioning": "versioned",
                    "conditionalCreate": True,
                    "searchParam": [
                        {"name": "identifier", "type": "token", "documentation": "The caller's id, or ours: "
                                                                                  f"{systems.ORDER_NUMBER}|RX-…"},
                        {"name": "patient", "type": "reference"},
                        {"name": "status", "type": "token", "documentation": "active | on-hold | stopped | cancelled | completed"},
                        {"name": "_lastUpdated", "type": "date"},
                    ],
                },
                {
                    "type": "Task",
                    "documentation": ("One per preparation: intent order, code fulfill, owner the pharmacy. status follows the "
                                      "order and its job; businessStatus names our stage "
                                      f"({systems.STAGE}); output holds the tracking number and link once shipped."),
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{"name": "focus", "type": "reference", "documentation": "MedicationRequest/{id} (required)"}],
                },
                {
                    "type": "MedicationDispense",
                    "documentation": ("One per fill. The contained Medication's batch holds the lot (the Rx number) and the "
                                      "beyond-use date as expirationDate; whenHandedOver is the shipping time."),
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{"name": "prescription", "type": "reference",
                                     "documentation": "MedicationRequest/{id} (required)"}],
                },
                {"type": "Patient", "documentation": "The clinic's patients, read by the id in MedicationRequest.subject.",
                 "interaction": [{"code": "read"}]},
                {"type": "AllergyIntolerance", "documentation": (
                    "Taken inside a transaction Bundle or contained in a MedicationRequest: an active allergy naming one of "
                    f"our allergen groups ({systems.ALLERGEN_GROUP} code, or its name as text) is recorded on a new patient "
                    "and, when the MedicationRequest names it in supportingInformation, excluded from the preparation. "
                    "Not stored as a resource of its own.")},
            ],
            "interaction": [{"code": "transaction", "documentation": (
                "POST /fhir/r4/ with a transaction Bundle of Patient, MedicationRequest and AllergyIntolerance entries (POST "
                "only): every MedicationRequest becomes an order, all or none.")}],
        }],
    }
