"""Checking an order body against the rules, nothing saved: the API's validate endpoint, the order
page while the prescriber types, and (later) submission all go through `order_validate`."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import BooleanField, Value
from django.utils import timezone

from formulary.rules_facts_builder import formulary_facts, lots_for, rules_version
from orders.models import Order, Patient, Prescriber, PrescriberLicence
from orders.rules import STORAGE_TEXT, evaluate
from orders.rules.facts import FormularyFacts, IngredientLine, Licence, OrderContext, PreparationInput, PreparationResult
from orders.rules.titles import title as rule_title
from portal.errors import Forbidden, NotFound, ServiceError
from portal.models import PHARMACY_ROLES, Pharmacy, PharmacyLicence, Role


@dataclass
class ValidationOutcome:
    rules_version: str
    prescriber: Prescriber
    patient: Patient | None
    ship_to_state: str
    encounter_state: str
    results: list[PreparationResult]
    facts: FormularyFacts

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)


_read_once: ContextVar[dict | None] = ContextVar("prescriber_read_once", default=None)


@contextmanager
def prescriber_read_once():
    """Within the block, a prescriber's own profile is read once however many reads ask whose it is (the prescriber's
    home asked eleven times). For a page's reads only: nothing in the block changes the profile."""
    token = _read_once.set({})
    try:
        yield
    finally:
        _read_once.reset(token)


def prescriber_for_caller(*, user, prescriber_npi: str | None) -> Prescriber:
    """A prescriber acts for themself; pharmacy staff name the prescriber by NPI; a platform account names a
    prescriber of a clinic it is linked to (Clinic.platform_accounts), and no other."""
    if user.role == Role.PRESCRIBER:
        memo = _read_once.get()
        if memo is not None and user.pk in memo:
            prescriber = memo[user.pk]
        else:
            prescriber = Prescriber.objects.select_related("clinic").filter(user=user).first()
            if memo is not None:
                memo[user.pk] = prescriber
        if prescriber is None:
            raise Forbidden("This account has no prescriber profile.")
        if prescriber_npi and prescriber_npi != prescriber.npi:
            raise ServiceError("A prescriber can only order under their own NPI.", fields={"prescriber_npi": ["Not your NPI."]})
        return prescriber
    if user.role in PHARMACY_ROLES:
        if not prescriber_npi:
            raise ServiceError("Pharmacy staff must name the prescriber.", fields={"prescriber_npi": ["Name the prescriber's NPI."]})
        prescriber = Prescriber.objects.select_related("clinic").filter(npi=prescriber_npi).first()
        if prescriber is None:
            raise ServiceError(f"No prescriber with NPI {prescriber_npi}.", fields={"prescriber_npi": ["No prescriber with this NPI."]})
        return prescriber
    if user.role == Role.PLATFORM:
        if not user.platform_clinics.exists():
            raise Forbidden("This platform account acts for no clinic yet: the pharmacy links it to the clinics it serves.")
        if not prescriber_npi:
            raise ServiceError("A platform names the prescriber it orders for.",
                               fields={"prescriber_npi": ["Name the prescriber's NPI."]})
        prescriber = Prescriber.objects.select_related("clinic").filter(npi=prescriber_npi, clinic__platform_accounts=user).first()
        if prescriber is None:
            raise Forbidden(f"NPI {prescriber_npi} is not a prescriber of a clinic this platform account acts for.")
        return prescriber
    raise Forbidden("This account cannot order.")


def licences_for(prescriber: Prescriber) -> tuple[tuple[Licence, ...], tuple[Licence, ...]]:
    """The pharmacy's licences (the first pharmacy's; the pharmacy itself is not needed) and the prescriber's, in one
    query (UNION ALL of the two tables)."""
    pharmacy = PharmacyLicence.objects.filter(pharmacy_id=Pharmacy.objects.order_by("pk").values("pk")[:1]).values_list(
        Value(True, output_field=BooleanField()), "state", "expires_on")
    own = PrescriberLicence.objects.filter(prescriber_id=prescriber.pk).values_list(
        Value(False, output_field=BooleanField()), "state", "expires_on")
    pharmacy_licences, prescriber_licences = [], []
    for of_pharmacy, state, expires_on in pharmacy.union(own, all=True):
        (pharmacy_licences if of_pharmacy else prescriber_licences).append(Licence(state=state, expires_on=expires_on))
    return tuple(pharmacy_licences), tuple(prescriber_licences)


def patient_for_prescriber(*, prescriber: Prescriber, public_id) -> Patient:
    """Only the prescriber's own clinic's patients; anything else is not found."""
    patient = Patient.objects.prefetch_related("allergies").filter(public_id=public_id, clinic_id=prescriber.clinic_id).first()
    if patient is None:
        raise NotFound("No such patient.")
    return patient


COMPOUNDING_DAYS_AHEAD = 365
EARLIEST_BIRTH = dt.date(1900, 1, 1)


def compounding_date_problem(value: dt.date | None, today: dt.date | None = None) -> str | None:
    """Why a compounding date cannot be used, or None: it is today or later, within a year."""
    today = today or timezone.localdate()
    if value is None:
        return None
    if value < today:
        return "The compounding date cannot be in the past."
    if value > today + dt.timedelta(days=COMPOUNDING_DAYS_AHEAD):
        return f"The compounding date must be within a year of today (by {(today + dt.timedelta(days=COMPOUNDING_DAYS_AHEAD)).isoformat()})."
    return None


def date_of_birth_problem(value: dt.date | None, today: dt.date | None = None) -> str | None:
    """Why a date of birth cannot be a patient's, or None: in the past, and not before 1900."""
    today = today or timezone.localdate()
    if value is None:
        return None
    if value > today:
        return "The date of birth cannot be in the future."
    if value < EARLIEST_BIRTH:
        return "Check the year of birth: it must be 1900 or later."
    return None


def order_validate(*, user, body: dict, today: dt.date | None = None, facts: FormularyFacts | None = None,
                   known: tuple[Prescriber, Patient] | None = None) -> ValidationOutcome:
    """`body` is the cleaned order body (see orders.api_validate.OrderBodySerializer). `known`: the prescriber and the
    patient (its allergies prefetched) the body names, already read by the caller and in the caller's scope
    (preparation_recheck: the order's own), so they are not read again."""
    today = today or timezone.localdate()
    facts = facts or formulary_facts()
    # The rules engine only ever sees a date it can count from (its dating adds days to it).
    for index, prep in enumerate(body.get("preparations") or []):
        problem = compounding_date_problem(prep.get("compounding_date"), today)
        if problem:
            raise ServiceError("The order cannot be checked: see fields.",
                               fields={f"preparations[{index}].compounding_date": [problem]})
    if known is not None:
        prescriber = known[0]
    else:
        prescriber = prescriber_for_caller(user=user, prescriber_npi=body.get("prescriber_npi"))

    patient = None
    allergies: frozenset[str] = frozenset()
    named = False
    if body.get("patient_id"):
        patient = known[1] if known is not None else patient_for_prescriber(prescriber=prescriber, public_id=body["patient_id"])
        allergies = frozenset(group.code for group in patient.allergies.all())
        named = True
    elif body.get("patient"):
        inline = body["patient"]
        allergies = frozenset(inline.get("allergies", []))
        named = bool(inline.get("first_name", "").strip() and inline.get("last_name", "").strip())
        known = (inline.get("external_id") or "").strip()
        if known:
            # The clinic's record of this patient counts too: an allergy on file is never forgotten.
            existing = Patient.objects.prefetch_related("allergies").filter(clinic_id=prescriber.clinic_id, external_id=known).first()
            if existing is not None:
                allergies |= {group.code for group in existing.allergies.all()}
                named = True

    ship_to = (body.get("ship_to") or {}).get("state") or (patient.state if patient else None)
    if not ship_to:
        raise ServiceError("Say where the order ships to.", fields={"ship_to": ["ship_to.state is required."]})
    encounter = body.get("encounter_state") or ship_to

    pharmacy_licences, prescriber_licences = licences_for(prescriber)

    preparations = body["preparations"]
    dates = [prep.get("compounding_date") or today for prep in preparations]
    material_codes = {line["ingredient"] for prep in preparations for line in prep.get("ingredients", [])}
    base_codes = {prep["base"] for prep in preparations}
    lots = lots_for(material_codes=material_codes, base_codes=base_codes, on=min(dates))
    context = OrderContext(
        ship_to_state=ship_to,
        encounter_state=encounter,
        prescriber_licences=prescriber_licences,
        pharmacy_licences=pharmacy_licences,
        patient_named=named,
        patient_allergies=allergies,
        clinical_difference_note=body.get("clinical_difference_note", "") or "",
        lots=lots,
    )
    results = [evaluate(_preparation_input(prep), facts, context, today=today) for prep in preparations]
    return ValidationOutcome(
        rules_version=rules_version(facts), prescriber=prescriber, patient=patient, ship_to_state=ship_to,
        encounter_state=encounter, results=results, facts=facts,
    )


def _preparation_input(prep: dict) -> PreparationInput:
    exclusions = prep.get("exclusions") or {}
    return PreparationInput(
        base=prep["base"],
        quantity=prep["quantity"],
        unit=prep["unit"],
        route=prep.get("route") or "topical",
        target_ph=prep.get("target_ph"),
        water_activity=prep.get("water_activity"),
        compounding_date=prep.get("compounding_date"),
        ingredients=tuple(IngredientLine(code=line["ingredient"], percent=line["percent"]) for line in prep.get("ingredients", [])),
        excluded_allergen_groups=frozenset(exclusions.get("allergen_groups", [])),
        preservative_free=bool(exclusions.get("preservative_free", False)),
        directions=prep.get("directions") or "",
    )


def _num(value: Decimal | None, places: int = 4):
    return None if value is None else float(round(value, places))


_NAMES: tuple[FormularyFacts | None, dict[str, str]] = (None, {})


def _item_names(facts: FormularyFacts) -> dict[str, str]:
    """Every material's and base's name by code, made once per formulary revision (the facts are cached per
    process by revision), not once per preparation answered."""
    global _NAMES
    cached_for, names = _NAMES
    if cached_for is not facts:
        names = {code: m.name for code, m in facts.materials.items()} | {code: b.name for code, b in facts.bases.items()}
        _NAMES = (facts, names)
    return names


def result_as_json(result: PreparationResult, facts: FormularyFacts, unit: str, *, full: bool = True) -> dict:
    """One preparation's answer, in the API's shape (also rendered by the order page and kept on the preparation
    as its `checked` snapshot). Without `full`, the substances and the batch (its weighings and lots) are left out:
    POST orders/validate/ sends them only with ?detail=full."""
    answer = {
        "ok": result.ok,
        "findings": [
            {"code": f.code, "title": rule_title(f.code), "severity": f.severity, "ingredient": f.ingredient, "substance": f.substance,
             "message": f.message}
            for f in result.findings
        ],
        "aqueous": result.aqueous,
        "preserved": result.preserved,
        "compounding_date": result.compounding_date.isoformat(),
        "beyond_use_days": result.beyond_use_days,
        "beyond_use_date": result.beyond_use_date.isoformat(),
        "storage": result.storage,
        "storage_text": STORAGE_TEXT[result.storage],
        "target_ph": _num(result.target_ph, 2),
        "base_percent": _num(result.base_percent),
        "ingredients": [{"ingredient": code, "share_percent": _num(share)} for code, share in result.shares.items()],
    }
    if not full:
        return answer
    names = _item_names(facts)
    answer["substances"] = [
        {"substance": code, "inci": facts.substances[code].inci, "percent": _num(pct)} for code, pct in result.substances
    ]
    answer["batch"] = {
        "quantity": _num(result.batch_quantity, 3),
        # A preparation made in mL is weighed in grams: the batch and every line are grams, with the volume beside.
        "unit": "g" if result.density is not None else unit,
        "volume": _num(result.batch_volume, 3),
        "density": _num(result.density),
        "minimum_weighable_g": _num(result.minimum_weighable_g, 3),
        "lines": [
            {
                "item": line.item_code,
                "name": names.get(line.item_code, line.item_code),
                "kind": line.kind,
                "share_percent": _num(line.share_percent),
                "quantity": _num(line.quantity, 3),
                "millilitres": _num(line.millilitres, 3),
                "below_minimum_weighable": line.below_mwq,
                "lots": [{"lot_number": lot.lot_number, "expires_on": lot.expires_on.isoformat()} for lot in line.lots],
            }
            for line in result.weighings
        ],
    }
    return answer


def preparation_recheck(*, preparation, today: dt.date | None = None) -> list:
    """A signed preparation checked again as if written today, against today's formulary, lots and licences
    (a refill is a new fill): the findings that are now errors. The prescriber's own rules, the patient's
    allergies on file and where the order ships are read as they stand now."""
    # The order's patient (with the allergies on file), prescriber, their account and clinic: one read and the allergies.
    order = (Order.objects.select_related("patient", "prescriber__user", "prescriber__clinic").prefetch_related("patient__allergies")
             .get(pk=preparation.order_id))
    prep = {
        "base": preparation.base_code, "quantity": preparation.quantity, "unit": preparation.unit, "route": preparation.route,
        "target_ph": preparation.target_ph, "water_activity": preparation.water_activity, "directions": preparation.directions,
        "ingredients": [{"ingredient": line["ingredient"], "percent": Decimal(str(line["percent"]))} for line in preparation.ingredients],
        "exclusions": preparation.exclusions or {},
    }
    body = {"patient_id": order.patient.public_id, "ship_to": {"state": order.ship_to_state}, "encounter_state": order.encounter_state,
            "clinical_difference_note": order.clinical_difference_note, "prescriber_npi": order.prescriber.npi, "preparations": [prep]}
    prescriber, patient = order.prescriber, order.patient
    # What prescriber_for_caller and patient_for_prescriber would find for this body, as read above; anything else (an
    # account that is no longer a prescriber's, a patient of another clinic) goes their way, and is refused as before.
    same = prescriber.user.role == Role.PRESCRIBER and patient.clinic_id == prescriber.clinic_id
    outcome = order_validate(user=prescriber.user, body=body, today=today, known=(prescriber, patient) if same else None)
    return [finding for finding in outcome.results[0].findings if finding.severity == "error"]
