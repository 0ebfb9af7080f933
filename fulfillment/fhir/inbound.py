"""FHIR in: a MedicationRequest (with its contained Medication and Patient) or a transaction
Bundle → the order body that `/api/v1/orders/` takes, with a map from each body field back to the
FHIRPath it came from (so every later error names the element the caller sent).

Nothing here decides whether an order is acceptable: the body goes through the API's own
serializer and the rules engine (fulfillment/fhir/services.py). This module only translates, and
refuses what it cannot translate: the wrong resource type, an R5 shape, a strength it cannot read
as a percentage, a name that is not one formulary item."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pydantic
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient

from fulfillment.fhir import systems
from fulfillment.fhir.matching import Index, allergen_group, parse_compound
from fulfillment.fhir.outcome import FhirError, Issue, fail, from_pydantic
from orders.api_validate import MAX_INGREDIENTS

CONTAINED_TYPES = {"Medication", "Patient", "AllergyIntolerance", "Practitioner"}
MASS = {"g": Decimal(1), "mg": Decimal("0.001"), "kg": Decimal(1000)}
VOLUME = {"mL": Decimal(1), "ml": Decimal(1), "L": Decimal(1000)}
PERCENT_UNITS = {"%", "percent"}
UUID = re.compile(r"^[0-9a-fA-F-]{36}$")


@dataclasses.dataclass
class Draft:
    """One order to make, translated from one MedicationRequest."""

    body: dict
    root: str  # FHIRPath of the MedicationRequest
    paths: dict[str, str]  # order body path ("preparations.0.quantity") → FHIRPath
    ingredient_paths: dict[str, str]  # material or base code → FHIRPath of its Medication ingredient
    identifier: dict | None  # {"system", "value"} kept as the order's external_id
    requester_npi: str
    subject: str = ""  # the subject reference as sent (a Bundle's Patient fullUrl, #id, Patient/{id})


@dataclasses.dataclass
class Context:
    """What a MedicationRequest may point at outside itself: a Bundle's Patient and AllergyIntolerance entries."""

    index: Index
    allergen_names: dict[str, str]
    patients: dict[str, tuple[dict, str]] = dataclasses.field(default_factory=dict)  # fullUrl → (resource, FHIRPath)
    allergies: dict[str, list[tuple[dict, str, str]]] = dataclasses.field(default_factory=dict)  # patient ref → (resource, path, ref)


def check_type(raw, expected: str | set[str], path: str) -> str:
    if not isinstance(raw, dict):
        fail(400, f"{path} must be a JSON object (a FHIR resource).", expression=path, code="structure")
    kind = raw.get("resourceType")
    allowed = {expected} if isinstance(expected, str) else expected
    if kind not in allowed:
        want = " or ".join(sorted(allowed))
        fail(400, f"{path} is a {kind or 'resource without resourceType'}; this endpoint takes a {want}.", expression=path,
             code="structure", detail_code="wrong_resource_type")
    return kind


def _parse(model, raw: dict, path: str):
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise FhirError(400, from_pydantic(exc, root=path)) from None
    except (KeyError, TypeError, ValueError, RecursionError):
        fail(400, f"{path} is not a FHIR R4 {model.__name__}.", expression=path, code="structure")


def _precheck(raw: dict, root: str) -> None:
    """Refuse what the model library would take long over or not say plainly: unknown contained types
    and oversized ingredient lists."""
    contained = raw.get("contained") or []
    if not isinstance(contained, list):
        fail(400, f"{root}.contained must be a list.", expression=f"{root}.contained", code="structure")
    for i, item in enumerate(contained):
        path = f"{root}.contained[{i}]"
        check_type(item, CONTAINED_TYPES, path)
        if item["resourceType"] == "Medication":
            ingredients = item.get("ingredient") or []
            if isinstance(ingredients, list) and len(ingredients) > MAX_INGREDIENTS:
                fail(422, f"A preparation holds at most {MAX_INGREDIENTS} ingredients; this Medication has {len(ingredients)}.",
                     expression=f"{path}.ingredient", code="too-costly", detail_code="too_many_ingredients")
    if "medication" in raw and isinstance(raw.get("medication"), dict):
        fail(400, f"{root}.medication is the FHIR R5 shape (CodeableReference). In R4 send medicationReference to a contained "
                  "Medication, or medicationCodeableConcept.", expression=f"{root}.medication", code="structure",
             detail_code="r5_shape")


def _text(concept) -> str:
    if concept is None:
        return ""
    if concept.text:
        return concept.text
    for coding in concept.coding or []:
        if coding.display:
            return coding.display
    return ""


def _coded(concept, system: str) -> str | None:
    for coding in (concept.coding if concept else None) or []:
        if coding.system == system and coding.code:
            return coding.code
    return None


def _contained(mr, reference: str, kind: str, root: str):
    wanted = reference.removeprefix("#")
    for i, item in enumerate(mr.contained or []):
        if item.id == wanted and item.get_resource_type() == kind:
            return item, f"{root}.contained[{i}]"
    return None, None


def translate(raw: dict, *, root: str, context: Context) -> Draft:
    """One MedicationRequest (raw JSON at `root`) → the order body for one preparation."""
    check_type(raw, "MedicationRequest", root)
    _precheck(raw, root)
    mr = _parse(MedicationRequest, raw, root)
    issues: list[Issue] = []
    paths: dict[str, str] = {}
    if mr.status != "active":
        issues.append(Issue(f"Send the prescription with status 'active' (it was '{mr.status}'); a draft is kept on the "
                            "platform until it is signed.", expression=f"{root}.status", code="business-rule",
                            detail_code="status_not_active"))
    if mr.intent not in ("order", "original-order"):
        issues.append(Issue(f"Send intent 'order' (it was '{mr.intent}'): the pharmacy fills orders, not plans or proposals.",
                            expression=f"{root}.intent", code="business-rule", detail_code="intent_not_order"))
    body: dict = {}
    identifier = _identifier(mr)
    if identifier:
        body["external_id"] = identifier["value"]
        paths["external_id"] = f"{root}.identifier[{identifier['index']}]"

    npi = _requester_npi(mr, root, issues)
    if npi:
        body["prescriber_npi"] = npi
    paths["prescriber_npi"] = f"{root}.requester"

    _subject(mr, root, body, paths, context, issues)

    medication, med_path, text_only = _medication(mr, root, issues)
    preparation: dict = {}
    ingredient_paths: dict[str, str] = {}
    prep_paths: dict[str, str] = {}
    if medication is not None or text_only is not None:
        preparation = _preparation(mr, root, medication, med_path, text_only, context, issues, ingredient_paths, prep_paths)
    paths.update({f"preparations.0.{k}" if k else "preparations.0": v for k, v in prep_paths.items()})
    paths["preparations"] = med_path or root

    notes = " ".join(n.text for n in (mr.note or []) if n.text).strip()
    if notes:
        body["clinical_difference_note"] = notes
        paths["clinical_difference_note"] = f"{root}.note"
    exclusions = body.pop("_exclusions", [])
    if issues:
        raise FhirError(422, issues)
    preparation["exclusions"]["allergen_groups"] = exclusions
    body["preparations"] = [preparation]
    return Draft(body=body, root=root, paths=paths, ingredient_paths=ingredient_paths, identifier=identifier, requester_npi=npi,
                 subject=(mr.subject.reference or "") if mr.subject else "")


def _identifier(mr) -> dict | None:
    for i, ident in enumerate(mr.identifier or []):
        if ident.value and ident.system not in (systems.ORDER_NUMBER, systems.PREPARATION):
            return {"system": ident.system or "", "value": ident.value, "index": i}
    return None


def _requester_npi(mr, root: str, issues: list[Issue]) -> str:
    requester = mr.requester
    if requester is None:
        issues.append(Issue("Name the prescriber: requester with the prescriber's NPI as identifier "
                            f"(system {systems.NPI}).", expression=f"{root}.requester", code="required",
                            detail_code="requester_missing"))
        return ""
    identifiers = [requester.identifier] if requester.identifier else []
    if requester.reference and requester.reference.startswith("#"):
        practitioner, _ = _contained(mr, requester.reference, "Practitioner", root)
        identifiers += list(practitioner.identifier or []) if practitioner else []
    for ident in identifiers:
        if ident.system == systems.NPI and ident.value:
            return ident.value.strip()
    issues.append(Issue(f"The requester must carry the prescriber's NPI (identifier with system {systems.NPI}).",
                        expression=f"{root}.requester", code="required", detail_code="requester_npi_missing"))
    return ""


# --- The patient ------------------------------------------------------------------------------

def _subject(mr, root: str, body: dict, paths: dict, context: Context, issues: list[Issue]) -> None:
    """The patient (inline, or one the clinic keeps) and their allergies. Allergies sent for a new patient are
    recorded on the patient; those named in supportingInformation, and every one sent for a kept patient, are
    the preparation's exclusions too (the rules engine refuses an ingredient that carries one)."""
    subject = mr.subject
    reference = (subject.reference or "") if subject else ""
    patient_raw = patient_path = None
    entries: list[tuple[dict, str, str]] = []  # (resource, FHIRPath, how the MedicationRequest may reference it)
    if reference.startswith("#"):
        found, patient_path = _contained(mr, reference, "Patient", root)
        if found is None:
            issues.append(Issue(f"{reference} names no contained Patient.", expression=f"{root}.subject", code="not-found",
                                detail_code="patient_not_found"))
            return
        patient_raw = found.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif reference in context.patients:
        patient_raw, patient_path = context.patients[reference]
        entries = context.allergies.get(reference, [])
    elif reference.startswith("Patient/") and UUID.match(reference.removeprefix("Patient/")):
        body["patient_id"] = reference.removeprefix("Patient/")
        paths["patient_id"] = f"{root}.subject"
        entries = context.allergies.get(reference, [])
    elif subject is not None and subject.identifier is not None and subject.identifier.value:
        body["patient_lookup"] = subject.identifier.value  # the clinic's patient with this id, found by the service
        paths["patient_lookup"] = f"{root}.subject.identifier"
    else:
        issues.append(Issue("Name the patient: subject referencing a contained Patient (#id), a Patient entry of the Bundle, "
                            "Patient/{id} of a patient the clinic keeps here, or an identifier the clinic gave that patient.",
                            expression=f"{root}.subject", code="required", detail_code="subject_missing"))
        return
    entries = entries + [(item.model_dump(mode="json", by_alias=True, exclude_none=True), f"{root}.contained[{i}]", f"#{item.id}")
                         for i, item in enumerate(mr.contained or []) if item.get_resource_type() == "AllergyIntolerance"]
    named = {(ref.reference or "") for ref in mr.supportingInformation or []}
    every, supporting = [], []
    for raw, path, key in entries:
        group = _allergy_group(raw, path, context, issues)
        if group:
            every.append(group)
            if key in named:
                supporting.append(group)
    if patient_raw is not None:
        patient, ship_to = _patient(patient_raw, patient_path, issues)
        patient["allergies"] = list(dict.fromkeys(every))
        body["patient"] = patient
        paths.update({f"patient.{k}": v for k, v in _patient_paths(patient_path).items()})
        paths["patient"] = patient_path
        if ship_to:
            body["ship_to"] = ship_to
        paths["ship_to"] = f"{patient_path}.address"
        body["_exclusions"] = list(dict.fromkeys(supporting))
    else:
        body["_exclusions"] = list(dict.fromkeys(every))


def _patient_paths(path: str) -> dict[str, str]:
    return {"first_name": f"{path}.name[0].given", "last_name": f"{path}.name[0].family", "date_of_birth": f"{path}.birthDate",
            "sex": f"{path}.gender", "email": f"{path}.telecom", "phone": f"{path}.telecom", "external_id": f"{path}.identifier",
            "allergies": f"{path}", "state": f"{path}.address"}


def _patient(raw: dict, path: str, issues: list[Issue]) -> tuple[dict, dict | None]:
    patient = _parse(Patient, raw, path)
    names = [n for n in patient.name or [] if n.use in (None, "official", "usual")] or list(patient.name or [])
    name = names[0] if names else None
    data: dict = {
        "first_name": " ".join(name.given or []) if name else "",
        "last_name": (name.family or "") if name else "",
    }
    if patient.birthDate:
        data["date_of_birth"] = patient.birthDate.isoformat() if hasattr(patient.birthDate, "isoformat") else str(patient.birthDate)
    if patient.gender in ("female", "male", "other", "unknown"):
        data["sex"] = patient.gender
    for point in patient.telecom or []:
        if point.system == "email" and point.value and "email" not in data:
            data["email"] = point.value
        if point.system in ("phone", "sms") and point.value and "phone" not in data:
            data["phone"] = point.value[:30]
    for ident in patient.identifier or []:
        if ident.value:
            data["external_id"] = ident.value[:100]
            break
    ship_to = None
    addresses = [a for a in patient.address or [] if a.type in (None, "physical", "both") and a.use in (None, "home", "temp")]
    if addresses:
        a = addresses[0]
        lines = list(a.line or [])
        ship_to = {"line1": lines[0] if lines else "", "line2": ", ".join(lines[1:]), "city": a.city or "",
                   "state": (a.state or "").upper(), "postal_code": a.postalCode or ""}
    return data, ship_to


def _allergy_group(raw: dict, path: str, context: Context, issues: list[Issue]) -> str | None:
    """An active AllergyIntolerance → the allergen group the pharmacy screens for (None when inactive or unknown)."""
    allergy = _parse(AllergyIntolerance, raw, path)
    status = _coded(allergy.clinicalStatus, "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical") or "active"
    if status != "active":
        return None
    code = _coded(allergy.code, systems.ALLERGEN_GROUP)
    if code and code in context.allergen_names:
        return code
    words = code or _text(allergy.code)
    match = allergen_group(words, context.allergen_names) if words else None
    if match and match.code:
        return match.code
    near = f" Did you mean: {'; '.join(match.candidates)}?" if match and match.candidates else ""
    issues.append(Issue(f"The allergy {words or '(no code or text)'!r} is not one of the allergen groups the pharmacy "
                        f"screens for.{near} Send a coding with system {systems.ALLERGEN_GROUP}.",
                        expression=f"{path}.code", code="code-invalid", detail_code="unknown_allergen_group"))
    return None


# --- The medication ---------------------------------------------------------------------------

def _medication(mr, root: str, issues: list[Issue]):
    """(contained Medication, its path, None) or (None, None, free text) for medicationCodeableConcept."""
    if mr.medicationReference is not None:
        reference = mr.medicationReference.reference or ""
        if not reference.startswith("#"):
            issues.append(Issue("Send the compound as a contained Medication (medicationReference '#id'); a Medication stored "
                                "elsewhere cannot be read here.", expression=f"{root}.medicationReference",
                                code="not-supported", detail_code="medication_not_contained"))
            return None, None, None
        found, path = _contained(mr, reference, "Medication", root)
        if found is None:
            issues.append(Issue(f"{reference} names no contained Medication.", expression=f"{root}.medicationReference",
                                code="not-found", detail_code="medication_not_found"))
            return None, None, None
        return found, path, None
    text = _text(mr.medicationCodeableConcept)
    if not text.strip():
        issues.append(Issue("Describe the compound: a contained Medication with ingredients, or its text.",
                            expression=f"{root}.medicationCodeableConcept", code="required", detail_code="medication_missing"))
        return None, None, None
    return None, f"{root}.medicationCodeableConcept", text


def _preparation(mr, root, medication, med_path, text_only, context: Context, issues, ingredient_paths, paths) -> dict:
    prep: dict = {"ingredients": []}
    preservative_free = _flag(mr) or (medication is not None and _flag(medication))
    base_code = None
    base_path = med_path
    if medication is not None and medication.ingredient:
        unit = _unit(mr)
        for i, ingredient in enumerate(medication.ingredient):
            path = f"{med_path}.ingredient[{i}]"
            code = _ingredient_code(ingredient, path, context, issues)
            if code is None:
                continue
            is_base = code in context.index.facts.bases or ingredient.isActive is False
            if is_base:
                if base_code is not None:
                    issues.append(Issue("Send one vehicle (base): one ingredient with isActive false.", expression=path,
                                        code="business-rule", detail_code="two_bases"))
                    continue
                if code not in context.index.facts.bases:
                    match = context.index.item(code, kinds="bases")
                    if match.code is None:
                        issues.append(Issue(f"{code} is marked as the vehicle (isActive false) but is not one of our bases.",
                                            expression=path, code="code-invalid", detail_code="UNKNOWN_BASE"))
                        continue
                    code = match.code
                base_code, base_path = code, path
                ingredient_paths[code] = path
                paths["base"] = path
                continue
            percent = _percent(ingredient.strength, f"{path}.strength", unit, issues)
            if percent is None:
                continue
            paths[f"ingredients.{len(prep['ingredients'])}"] = path
            paths[f"ingredients.{len(prep['ingredients'])}.percent"] = f"{path}.strength"
            paths[f"ingredients.{len(prep['ingredients'])}.ingredient"] = f"{path}.itemCodeableConcept"
            ingredient_paths.setdefault(code, path)
            prep["ingredients"].append({"ingredient": code, "percent": str(percent)})
        paths["ingredients"] = f"{med_path}.ingredient"
    else:
        text = text_only if text_only is not None else _text(medication.code if medication is not None else None)
        text_path = med_path if text_only is not None else f"{med_path}.code.text"
        if not text.strip():
            issues.append(Issue("The Medication lists no ingredients and no text: say what to compound.", expression=med_path,
                                code="required", detail_code="medication_empty"))
            return prep
        parsed = parse_compound(text, context.index)
        preservative_free = preservative_free or parsed.preservative_free
        for part in parsed.ingredients:
            if part.code is None:
                near = f" Candidates: {'; '.join(part.candidates)}." if part.candidates else " No formulary item is close."
                issues.append(Issue(f"'{part.text}' is not one formulary ingredient.{near}", expression=text_path,
                                    code="code-invalid", detail_code="UNKNOWN_INGREDIENT"))
            elif part.percent is None or part.percent <= 0:
                issues.append(Issue(f"Give the strength of '{part.text}' as a percentage.", expression=text_path, code="value",
                                    detail_code="strength_missing"))
            else:
                ingredient_paths.setdefault(part.code, text_path)
                prep["ingredients"].append({"ingredient": part.code, "percent": str(part.percent)})
        if not parsed.ingredients:
            issues.append(Issue(f"No ingredient with a strength could be read in '{text}'. Write each as 'Name 4%', separated "
                                "by '/'.", expression=text_path, code="value", detail_code="compound_text_unreadable"))
        if parsed.base.code:
            base_code = parsed.base.code
        elif parsed.base.text or parsed.base.candidates:
            near = f" Candidates: {'; '.join(parsed.base.candidates)}." if parsed.base.candidates else ""
            issues.append(Issue(f"The vehicle '{parsed.base.text}' is not one formulary base.{near}", expression=text_path,
                                code="code-invalid", detail_code="UNKNOWN_BASE"))
            base_code = ""
        base_path = text_path
        paths["ingredients"] = text_path
    if base_code is None:
        base_code = _base_from_form(medication, med_path, preservative_free, context, issues)
        base_path = f"{med_path}.form"
    if base_code:
        prep["base"] = base_code
        ingredient_paths.setdefault(base_code, base_path)
    paths.setdefault("base", base_path)
    _dispense(mr, root, prep, paths, issues)
    _dosage(mr, root, prep, paths, context, issues)
    prep["exclusions"] = {"allergen_groups": [], "preservative_free": preservative_free}
    paths["exclusions"] = root
    paths[""] = med_path or root
    return prep


def _flag(resource) -> bool:
    return any(ext.url == systems.PRESERVATIVE_FREE and ext.valueBoolean for ext in resource.extension or [])


def _ingredient_code(ingredient, path: str, context: Context, issues: list[Issue]) -> str | None:
    if ingredient.itemReference is not None:
        issues.append(Issue("Name each ingredient with itemCodeableConcept (our code, or its name as text); a reference "
                            "cannot be read here.", expression=f"{path}.itemReference", code="not-supported",
                            detail_code="ingredient_reference"))
        return None
    concept = ingredient.itemCodeableConcept
    code = _coded(concept, systems.FORMULARY)
    if code:
        return code  # an unknown code is the rules engine's UNKNOWN_INGREDIENT, with its own sentence
    words = _text(concept)
    if not words.strip():
        issues.append(Issue("Name the ingredient: a coding with our formulary code, or its name as text.",
                            expression=f"{path}.itemCodeableConcept", code="required", detail_code="ingredient_unnamed"))
        return None
    kinds = "bases" if ingredient.isActive is False else "materials"
    match = context.index.item(words, kinds=kinds)
    if match.code is None:
        near = f" Candidates: {'; '.join(match.candidates)}." if match.candidates else " No formulary item is close."
        what = "base" if kinds == "bases" else "ingredient"
        issues.append(Issue(f"'{words}' is not one formulary {what}.{near} Send our code (system {systems.FORMULARY}) to be "
                            "exact.", expression=f"{path}.itemCodeableConcept", code="code-invalid",
                            detail_code="UNKNOWN_BASE" if kinds == "bases" else "UNKNOWN_INGREDIENT"))
        return None
    return match.code


def _unit(mr) -> str | None:
    quantity = mr.dispenseRequest.quantity if mr.dispenseRequest else None
    if quantity is None:
        return None
    unit = (quantity.code or quantity.unit or "").strip()
    return "mL" if unit in VOLUME else "g" if unit in MASS else None


def _percent(strength, path: str, prep_unit: str | None, issues: list[Issue]) -> Decimal | None:
    """A Ratio → % (w/w for a preparation in grams, w/v for one in millilitres)."""
    if strength is None or strength.numerator is None or strength.numerator.value is None:
        issues.append(Issue("Give the ingredient's strength as a Ratio, e.g. 4 g per 100 g.", expression=path, code="required",
                            detail_code="strength_missing"))
        return None
    num = strength.numerator
    den = strength.denominator
    num_unit = (num.code or num.unit or "").strip()
    if num_unit in PERCENT_UNITS:
        if den is not None and den.value is not None and den.value != 1:
            issues.append(Issue("A strength in % has no denominator (or a denominator of 1).", expression=f"{path}.denominator",
                                code="value", detail_code="strength_units_mismatched"))
            return None
        return _positive(num.value, path, issues)
    if num_unit not in MASS:
        issues.append(Issue(f"The strength unit '{num_unit or '(none)'}' is not supported: send grams per 100 g (w/w), grams "
                            "per 100 mL (w/v) or %.", expression=f"{path}.numerator", code="not-supported",
                            detail_code="strength_unit_unsupported"))
        return None
    if den is None or den.value is None:
        issues.append(Issue("The strength needs a denominator, e.g. 100 g.", expression=f"{path}.denominator", code="required",
                            detail_code="strength_denominator_missing"))
        return None
    if den.value == 0:
        issues.append(Issue("The strength's denominator is zero.", expression=f"{path}.denominator.value", code="value",
                            detail_code="strength_denominator_zero"))
        return None
    den_unit = (den.code or den.unit or "").strip()
    if den_unit in MASS:
        kind = "g"
    elif den_unit in VOLUME:
        kind = "mL"
    else:
        issues.append(Issue(f"The strength's denominator unit '{den_unit or '(none)'}' is not supported: use g or mL.",
                            expression=f"{path}.denominator", code="not-supported", detail_code="strength_unit_unsupported"))
        return None
    if prep_unit and kind != prep_unit:
        issues.append(Issue(f"The strength is per {den_unit} but the quantity to dispense is in {prep_unit}: send strengths "
                            f"per {prep_unit} ({'w/w' if prep_unit == 'g' else 'w/v'}).", expression=f"{path}.denominator",
                            code="value", detail_code="strength_units_mismatched"))
        return None
    num_g = num.value * MASS[num_unit]
    den_base = den.value * (MASS[den_unit] if kind == "g" else VOLUME[den_unit])
    return _positive(num_g / den_base * 100, path, issues)


def _positive(value, path: str, issues: list[Issue]) -> Decimal | None:
    value = Decimal(value)
    if not value.is_finite() or value <= 0 or value > 100:
        issues.append(Issue(f"A strength of {value.normalize():f} % is outside 0–100 %.", expression=path, code="value",
                            detail_code="strength_out_of_range"))
        return None
    return value.quantize(Decimal("0.0001")).normalize()


def _base_from_form(medication, med_path, preservative_free: bool, context: Context, issues: list[Issue]) -> str:
    form = medication.form if medication is not None else None
    if form is None:
        issues.append(Issue("Name the vehicle: an ingredient with isActive false (our base code or name), or Medication.form.",
                            expression=f"{med_path}.form", code="required", detail_code="vehicle_missing"))
        return ""
    vehicle = _coded(form, systems.VEHICLE) or systems.FORM_SNOMED.get(_coded(form, systems.SNOMED) or "")
    base = _coded(form, systems.FORMULARY)
    if base:
        return base
    if vehicle is None:
        words = _text(form).lower().replace(" ", "_")
        vehicle = next((v for v in sorted(context.index.vehicles(), key=len, reverse=True) if v in words), None)
    if vehicle is None:
        issues.append(Issue(f"The dose form '{_text(form) or '(no text)'}' is not a vehicle the pharmacy compounds "
                            f"({', '.join(sorted(v.replace('_', ' ') for v in context.index.vehicles()))}).",
                            expression=f"{med_path}.form", code="code-invalid", detail_code="UNKNOWN_BASE"))
        return ""
    match = context.index.base_for(vehicle, preservative_free=preservative_free)
    if match.code is None:
        issues.append(Issue(f"More than one {vehicle.replace('_', ' ')} base fits: name one as an ingredient with isActive "
                            f"false. Candidates: {'; '.join(match.candidates)}.", expression=f"{med_path}.form",
                            code="code-invalid", detail_code="UNKNOWN_BASE"))
        return ""
    return match.code


def _dispense(mr, root: str, prep: dict, paths: dict, issues: list[Issue]) -> None:
    dispense = mr.dispenseRequest
    quantity = dispense.quantity if dispense else None
    paths["quantity"] = paths["unit"] = f"{root}.dispenseRequest.quantity"
    paths["refills"] = f"{root}.dispenseRequest.numberOfRepeatsAllowed"
    if quantity is None or quantity.value is None:
        issues.append(Issue("Say how much to dispense: dispenseRequest.quantity in g or mL.",
                            expression=f"{root}.dispenseRequest.quantity", code="required", detail_code="quantity_missing"))
        return
    unit = (quantity.code or quantity.unit or "").strip()
    if unit not in MASS and unit not in VOLUME:
        issues.append(Issue(f"The quantity's unit '{unit or '(none)'}' is not supported: send g or mL.",
                            expression=f"{root}.dispenseRequest.quantity", code="not-supported", detail_code="quantity_unit"))
        return
    factor = MASS.get(unit) or VOLUME.get(unit)
    prep["quantity"] = str((quantity.value * factor).normalize())
    prep["unit"] = "g" if unit in MASS else "mL"
    if dispense.numberOfRepeatsAllowed is not None:
        prep["refills"] = int(dispense.numberOfRepeatsAllowed)


def _dosage(mr, root: str, prep: dict, paths: dict, context: Context, issues: list[Issue]) -> None:
    dosages = mr.dosageInstruction or []
    texts = [d.text.strip() for d in dosages if d.text and d.text.strip()]
    texts += [d.patientInstruction.strip() for d in dosages if d.patientInstruction and d.patientInstruction.strip()]
    prep["directions"] = " ".join(dict.fromkeys(texts))
    paths["directions"] = f"{root}.dosageInstruction[0].text"
    paths["route"] = f"{root}.dosageInstruction[0].route"
    route = next((d.route for d in dosages if d.route is not None), None)
    if route is None:
        return
    facts = context.index.facts
    ours = _coded(route, systems.ROUTE)
    if ours:
        prep["route"] = ours  # the serializer refuses a route we do not know, naming ours
    elif _coded(route, systems.SNOMED) == systems.TOPICAL_ROUTE_SNOMED:
        prep["route"] = "topical"
    else:
        words = _text(route).lower().strip().replace(" ", "_").removesuffix("_route")
        known = facts.non_sterile_routes | facts.sterile_routes
        if words in known:
            prep["route"] = words
        else:
            issues.append(Issue(f"The route '{_text(route) or '(no text)'}' is not one we know: send SNOMED CT "
                                f"{systems.TOPICAL_ROUTE_SNOMED} (topical), or our route code (system {systems.ROUTE}: "
                                f"{', '.join(sorted(facts.non_sterile_routes))}).", expression=paths["route"],
                                code="code-invalid", detail_code="route_unknown"))
