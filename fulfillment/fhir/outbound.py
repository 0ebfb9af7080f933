"""FHIR out: our orders as the resources a platform reads.

- MedicationRequest: one per preparation (the prescription line), id = the preparation's id; the
  order is its requisition (groupIdentifier = the order number), the caller's id its identifier.
- Task: one per preparation, the pharmacy's work on it; status follows the order and then the
  preparation's current job; businessStatus names our stage; the tracking number and link are outputs.
- MedicationDispense: one per fill (job), with the compounded batch (lot, beyond-use date).

Plain dicts built from our rows; tests validate every one with the FHIR library."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from fulfillment.fhir import systems
from fulfillment.models import Job, JobStatus
from orders.models import Order, OrderStatus, Preparation, PreparationStatus

UCUM_UNITS = {"g": "g", "mL": "mL"}
STAGE_NAMES = {
    "submitted": "Submitted, awaiting the pharmacist", "in-verification": "In verification",
    "clarification-requested": "The pharmacist asked a question", "rejected": "Rejected by the pharmacist",
    "verified": "Verified, queued for compounding", "compounding": "Compounding", "rework": "Being compounded again",
    "qc": "Quality check", "qc-passed": "Quality check passed, ready to ship", "on-hold": "On hold",
    "shipped": "Shipped", "delivered": "Delivered", "cancelled": "Cancelled",
}


def _instant(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _decimal(value) -> float | int:
    value = Decimal(str(value)).normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity(value, unit: str) -> dict:
    return {"value": _decimal(value), "unit": unit, "system": systems.UCUM, "code": UCUM_UNITS.get(unit, unit)}


_read: contextvars.ContextVar[dict | None] = contextvars.ContextVar("fhir_read", default=None)


@contextlib.contextmanager
def one_read():
    """Build many resources (a search) with one look-up each of what they all share: the pharmacy, the formulary."""
    token = _read.set({})
    try:
        yield
    finally:
        _read.reset(token)


def _shared(key: str, load):
    memo = _read.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def _pharmacy() -> dict:
    from portal.models import Pharmacy

    pharmacy = _shared("pharmacy", lambda: Pharmacy.objects.order_by("pk").first())
    return {"display": pharmacy.name if pharmacy else settings.PHARMACY_NAME}


def _requester(order: Order) -> dict:
    return {"identifier": {"system": systems.NPI, "value": order.prescriber.npi}, "display": str(order.prescriber)}


def _subject(order: Order, names: bool = True) -> dict:
    """The patient by reference; with the name too, except in webhooks (which never carry patient data)."""
    patient = order.patient
    reference = {"reference": f"Patient/{patient.public_id}"}
    return {**reference, "display": f"{patient.first_name} {patient.last_name}"} if names else reference


def last_updated(order: Order, prep: Preparation) -> dt.datetime:
    """The later of the order's own change and the newest event about it (job moves write events, not the order row)."""
    newest = getattr(prep, "last_event_at", None)
    if newest is None:
        newest = order.events.order_by("-created_at").values_list("created_at", flat=True).first()
    return max(filter(None, [order.updated_at, newest]))


def medication(prep: Preparation, *, id: str = "compound", batch: dict | None = None) -> dict:
    """The compound as a contained Medication: the base as the ingredient that is not active, then each
    ingredient with its strength per 100 g (or per 100 mL)."""
    unit = prep.unit
    per = {"value": 100, "unit": unit, "system": systems.UCUM, "code": UCUM_UNITS.get(unit, unit)}
    ingredients = [{
        "itemCodeableConcept": {"coding": [{"system": systems.FORMULARY, "code": prep.base_code, "display": prep.base_name}],
                                "text": prep.base_name},
        "isActive": False,
    }]
    for line in prep.ingredients:
        ingredients.append({
            "itemCodeableConcept": {"coding": [{"system": systems.FORMULARY, "code": line["ingredient"], "display": line["name"]}],
                                    "text": line["name"]},
            "isActive": True,
            "strength": {"numerator": {"value": _decimal(line["percent"]), "unit": "g", "system": systems.UCUM, "code": "g"},
                         "denominator": per},
        })
    vehicle = prep.checked.get("vehicle") or _vehicle_of(prep)
    form: dict = {"text": vehicle.replace("_", " ")}
    codings = [{"system": systems.VEHICLE, "code": vehicle}]
    if vehicle in systems.VEHICLE_SNOMED:
        codings.insert(0, {"system": systems.SNOMED, "code": systems.VEHICLE_SNOMED[vehicle]})
    form["coding"] = codings
    resource = {"resourceType": "Medication", "id": id, "code": {"text": prep.label}, "form": form, "ingredient": ingredients,
                "amount": {"numerator": _quantity(prep.quantity, unit), "denominator": {"value": 1}}}
    if prep.exclusions.get("preservative_free"):
        resource["extension"] = [{"url": systems.PRESERVATIVE_FREE, "valueBoolean": True}]
    if batch:
        resource["batch"] = batch
    return resource


def _vehicle_of(prep: Preparation) -> str:
    from formulary.rules_facts_builder import formulary_facts

    base = _shared("facts", formulary_facts).bases.get(prep.base_code)
    return base.vehicle if base else "cream"


# --- MedicationRequest ----------------------------------------------------------------------

def request_status(order: Order, prep: Preparation) -> str:
    if order.status == OrderStatus.DRAFT:
        return "draft"
    if order.status == OrderStatus.CLARIFICATION_REQUESTED:
        return "on-hold"
    if order.status == OrderStatus.REJECTED:
        return "stopped"
    if order.status == OrderStatus.CANCELLED or prep.status == PreparationStatus.CANCELLED:
        return "cancelled"
    if prep.status == PreparationStatus.DELIVERED and prep.refills_remaining == 0:
        return "completed"
    return "active"


def _reason(order: Order, kind: str) -> str:
    return order.events.filter(kind=kind).order_by("-sequence").values_list("message", flat=True).first() or ""


def medication_request(prep: Preparation) -> dict:
    order = prep.order
    status = request_status(order, prep)
    identifiers = []
    if order.external_id:
        identifiers.append({"use": "usual", "system": systems.EXTERNAL_ID, "value": order.external_id})
    identifiers.append({"use": "official", "system": systems.PREPARATION, "value": f"{order.number}/{prep.position}"})
    resource: dict = {
        "resourceType": "MedicationRequest",
        "id": str(prep.public_id),
        "meta": {"versionId": str(order.version), "lastUpdated": _instant(last_updated(order, prep))},
        "contained": [medication(prep)],
        "identifier": identifiers,
        "groupIdentifier": {"system": systems.ORDER_NUMBER, "value": order.number},
        "status": status,
        "intent": "order",
        "medicationReference": {"reference": "#compound", "display": prep.label},
        "subject": _subject(order),
        "authoredOn": _instant(order.signed_at),
        "requester": _requester(order),
        "dosageInstruction": [{
            "text": prep.directions or "As directed.",
            "route": _route(prep.route),
        }],
        "dispenseRequest": {"numberOfRepeatsAllowed": prep.refills, "quantity": _quantity(prep.quantity, prep.unit),
                            "performer": _pharmacy()},
    }
    if status in ("stopped", "cancelled", "on-hold"):
        kind = {"stopped": "rejected", "cancelled": "cancelled", "on-hold": "clarification_requested"}[status]
        reason = _reason(order, kind)
        if reason:
            resource["statusReason"] = {"text": reason}
    if prep.exclusions.get("preservative_free"):
        resource["extension"] = [{"url": systems.PRESERVATIVE_FREE, "valueBoolean": True}]
    if order.clinical_difference_note:
        resource["note"] = [{"text": order.clinical_difference_note}]
    groups = prep.exclusions.get("allergen_groups") or []
    if groups:
        resource["contained"] += [_exclusion(code, i, order) for i, code in enumerate(groups, start=1)]
        resource["supportingInformation"] = [{"reference": f"#excluded-{i}"} for i in range(1, len(groups) + 1)]
    return resource


def _exclusion(code: str, i: int, order: Order) -> dict:
    """An allergen group the prescriber excluded from this preparation, as the AllergyIntolerance it came from."""
    from formulary.models import AllergenGroup

    name = AllergenGroup.objects.filter(code=code).values_list("name", flat=True).first() or code
    return {"resourceType": "AllergyIntolerance", "id": f"excluded-{i}",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": systems.ALLERGEN_GROUP, "code": code, "display": name}], "text": name},
            "patient": {"reference": f"Patient/{order.patient.public_id}"}}


def _route(route: str) -> dict:
    if route == "topical":
        return {"coding": [{"system": systems.SNOMED, "code": systems.TOPICAL_ROUTE_SNOMED, "display": "Topical route"},
                           {"system": systems.ROUTE, "code": route}], "text": "Topical"}
    return {"coding": [{"system": systems.ROUTE, "code": route}], "text": route.replace("_", " ").capitalize()}


# --- Task -----------------------------------------------------------------------------------

def current_job(prep: Preparation) -> Job | None:
    jobs = getattr(prep, "fhir_jobs", None)
    if jobs is None:
        jobs = list(prep.jobs.select_related("shipment").order_by("fill"))
    return jobs[-1] if jobs else None


FILLING = (OrderStatus.APPROVED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)  # the jobs say where each preparation is
JOB_TASK = {
    JobStatus.QUEUED: ("accepted", "verified"), JobStatus.COMPOUNDING: ("in-progress", "compounding"),
    JobStatus.REWORK: ("in-progress", "rework"), JobStatus.QC: ("in-progress", "qc"),
    JobStatus.READY: ("in-progress", "qc-passed"), JobStatus.ON_HOLD: ("on-hold", "on-hold"),
    JobStatus.SHIPPED: ("in-progress", "shipped"), JobStatus.DELIVERED: ("completed", "delivered"),
    JobStatus.CANCELLED: ("cancelled", "cancelled"),
}


def task_status(order: Order, prep: Preparation, job: Job | None) -> tuple[str, str]:
    """(Task.status, our stage for businessStatus)."""
    if order.status == OrderStatus.CANCELLED or prep.status == PreparationStatus.CANCELLED:
        return "cancelled", "cancelled"
    if order.status == OrderStatus.REJECTED:
        return "rejected", "rejected"
    if order.status == OrderStatus.CLARIFICATION_REQUESTED:
        return "on-hold", "clarification-requested"
    if order.status == OrderStatus.IN_VERIFICATION:
        return "requested", "in-verification"
    if order.status not in FILLING:
        return "requested", "submitted"
    if job is None:  # approved: its job is made in the same transaction, queued
        return "accepted", "verified"
    return JOB_TASK[job.status]


def task(prep: Preparation, *, names: bool = True) -> dict:
    order = prep.order
    job = current_job(prep)
    status, stage = task_status(order, prep, job)
    resource: dict = {
        "resourceType": "Task",
        "id": str(prep.public_id),
        "meta": {"lastUpdated": _instant(last_updated(order, prep))},
        "identifier": [{"system": systems.PREPARATION, "value": f"{order.number}/{prep.position}"}],
        "groupIdentifier": {"system": systems.ORDER_NUMBER, "value": order.number},
        "basedOn": [{"reference": f"MedicationRequest/{prep.public_id}"}],
        "status": status,
        "businessStatus": {"coding": [{"system": systems.STAGE, "code": stage, "display": STAGE_NAMES[stage]}],
                           "text": STAGE_NAMES[stage]},
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": systems.TASK_CODE, "code": "fulfill", "display": "Fulfill the focal request"}]},
        "description": prep.label,
        "focus": {"reference": f"MedicationRequest/{prep.public_id}"},
        "for": _subject(order, names),
        "authoredOn": _instant(order.signed_at),
        "lastModified": _instant(last_updated(order, prep)),
        "requester": _requester(order),
        "owner": _pharmacy(),
    }
    reason = ""
    if status == "rejected":
        reason = _reason(order, "rejected")
    elif status == "on-hold" and stage == "clarification-requested":
        reason = _reason(order, "clarification_requested")
    elif status == "cancelled":
        reason = _reason(order, "cancelled") or "Cancelled."
    if reason:
        resource["statusReason"] = {"text": reason}
    if job is not None and job.shipment_id:
        resource["output"] = _tracking(job.shipment)
    return resource


def _tracking(shipment) -> list[dict]:
    from fulfillment.carriers import CARRIERS

    outputs = [{"type": {"coding": [{"system": systems.TASK_OUTPUT, "code": "tracking-number"}], "text": "Tracking number"},
                "valueString": f"{shipment.carrier} {shipment.tracking_number}"}]
    carrier = CARRIERS.get(shipment.carrier)
    url = carrier.tracking_url(shipment.tracking_number) if carrier is not None else ""
    if url:  # a carrier with no public page (the simulated one) gives no link
        if url.startswith("/"):
            url = settings.SITE_URL.rstrip("/") + url
        outputs.append({"type": {"coding": [{"system": systems.TASK_OUTPUT, "code": "tracking-url"}], "text": "Tracking link"},
                        "valueUrl": url})
    return outputs


# --- MedicationDispense -----------------------------------------------------------------------

JOB_DISPENSE = {
    JobStatus.QUEUED: "preparation", JobStatus.COMPOUNDING: "in-progress", JobStatus.REWORK: "in-progress",
    JobStatus.QC: "in-progress", JobStatus.READY: "in-progress", JobStatus.ON_HOLD: "on-hold",
    JobStatus.SHIPPED: "completed", JobStatus.DELIVERED: "completed", JobStatus.CANCELLED: "declined",
}


def _batch(job: Job) -> dict | None:
    """The compounded batch: its lot is the job's Rx number; its expiry the beyond-use date on the label."""
    record = getattr(job, "record", None)
    if record is None:
        return None
    from fulfillment import documents

    # The label's beyond-use date (documents.label_context), without reading the rest of the label.
    bud = documents.dating_context(job.preparation, compounded_on=timezone.localtime(record.recorded_at).date(),
                                   lot_expiries=[line.lot_expires_on for line in record.lines.all()])["date"]
    return {"lotNumber": job.number, "expirationDate": _instant(timezone.make_aware(dt.datetime.combine(bud, dt.time(23, 59, 59))))}


def dispense(job: Job, *, names: bool = True) -> dict:
    prep = job.preparation
    order = prep.order
    resource: dict = {
        "resourceType": "MedicationDispense",
        "id": str(job.public_id),
        "meta": {"versionId": str(job.version), "lastUpdated": _instant(job.updated_at)},
        "contained": [medication(prep, batch=_batch(job))],
        "identifier": [{"system": systems.RX_NUMBER, "value": job.number}],
        "status": JOB_DISPENSE[job.status],
        "medicationReference": {"reference": "#compound", "display": prep.label},
        "subject": _subject(order, names),
        "performer": [{"actor": _pharmacy()}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{prep.public_id}"}],
        "type": {"coding": [{"system": systems.SUPPLY_TYPE, "code": "FF" if job.fill == 0 else "RF",
                             "display": "First Fill" if job.fill == 0 else "Refill"}],
                 "text": "Original fill" if job.fill == 0 else f"Refill {job.fill}"},
        "quantity": _quantity(prep.quantity, prep.unit),
        "dosageInstruction": [{"text": prep.directions or "As directed."}],
    }
    if not names:
        del resource["dosageInstruction"]  # webhooks carry no patient data: the directions stay on the read
    if job.verified_at:
        resource["whenPrepared"] = _instant(job.verified_at)
    if job.shipment_id:
        resource["whenHandedOver"] = _instant(job.shipment.shipped_at)
    return resource


# --- Patient -----------------------------------------------------------------------------------

def patient(p) -> dict:
    resource: dict = {
        "resourceType": "Patient",
        "id": str(p.public_id),
        "name": [{"use": "official", "family": p.last_name, "given": p.first_name.split() or [p.first_name]}],
        "birthDate": p.date_of_birth.isoformat(),
        "address": [{"use": "home", "type": "physical", "line": [line for line in (p.address_line1, p.address_line2) if line],
                     "city": p.city, "state": p.state, "postalCode": p.postal_code, "country": "US"}],
    }
    if p.external_id:
        resource["identifier"] = [{"use": "usual", "system": systems.EXTERNAL_ID, "value": p.external_id}]
    if p.sex in ("female", "male", "other", "unknown"):
        resource["gender"] = p.sex
    telecom = [{"system": "email", "value": p.email}] if p.email else []
    telecom += [{"system": "phone", "value": p.phone}] if p.phone else []
    if telecom:
        resource["telecom"] = telecom
    return resource
