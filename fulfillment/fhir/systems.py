"""The code systems, identifier systems and extensions the FHIR interface speaks (docs/fhir.md).

Our own canonical URLs are fixed names, not addresses of this deployment: a platform stores them
with its data, so they must not change when the portal moves host."""

from __future__ import annotations

BASE = "https://compounding-portal.example/fhir"

FORMULARY = f"{BASE}/CodeSystem/formulary"  # material and base codes, e.g. niacinamide, cream-base-pf
ALLERGEN_GROUP = f"{BASE}/CodeSystem/allergen-group"  # e.g. FRAGRANCE
ROUTE = f"{BASE}/CodeSystem/route"  # our non-sterile routes: topical, scalp, nail, mucosal_nonsterile
RULE = f"{BASE}/CodeSystem/rule"  # the rules engine's finding codes, e.g. LIVE_ORGANISM_NOT_COMPOUNDABLE
STAGE = f"{BASE}/CodeSystem/fulfilment-stage"  # Task.businessStatus: verified, compounding, qc-passed, shipped, …
TASK_OUTPUT = f"{BASE}/CodeSystem/task-output"  # tracking-number, tracking-url
ORDER_NUMBER = f"{BASE}/sid/order-number"  # RX-YYMM-NNNNNN
PREPARATION = f"{BASE}/sid/preparation"  # RX-YYMM-NNNNNN/1
RX_NUMBER = f"{BASE}/sid/rx-number"  # the job (fill) number on the label
EXTERNAL_ID = f"{BASE}/sid/external-id"  # the caller's own id when it sent no system
PRESERVATIVE_FREE = f"{BASE}/StructureDefinition/preservative-free"  # valueBoolean on MedicationRequest or Medication
CAPABILITY = f"{BASE}/CapabilityStatement/portal"

NPI = "http://hl7.org/fhir/sid/us-npi"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SUPPLY_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"  # FF first fill, RF refill

TOPICAL_ROUTE_SNOMED = "6064005"  # Topical route
VEHICLE = f"{BASE}/CodeSystem/vehicle"  # cream, lotion, gel, serum, spray, shampoo, conditioner, scalp_solution, ointment, balm
# SNOMED CT dose forms a platform most often sends in Medication.form (others: our vehicle code, or the word as text).
FORM_SNOMED = {"385099005": "cream", "385101003": "ointment"}
VEHICLE_SNOMED = {vehicle: code for code, vehicle in FORM_SNOMED.items()}
