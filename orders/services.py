"""Order writes: patients, drafts, signing and submitting, cancelling, clarifications, favourites.

Every status change goes through orders.transitions; every submission through order_validate
(the same rules as the page and the validate endpoint)."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from formulary.mfr_content import identity_of
from formulary.mfrs import mfr_current_many, mfr_propose
from formulary.models import AllergenGroup, MfrStatus
from formulary.rules_facts_builder import lots_for
from orders.models import (
    Favourite,
    Order,
    OrderAmendment,
    OrderEventKind,
    OrderStatus,
    Patient,
    Preparation,
    PreparationStatus,
    Prescriber,
    RushStatus,
    Source,
    Visibility,
)
from orders.promise import PromiseDates, promise_estimate
from orders.rules.arithmetic import fefo
from orders.rules.dating import assigned_bud_problems
from orders.transitions import IllegalTransition, counter_next, event_record, order_transition
from orders.validation import ValidationOutcome, date_of_birth_problem, order_validate, prescriber_for_caller, result_as_json
from portal.errors import Forbidden, ServiceError
from portal.models import Role
from portal.numbers import plain_number

ATTESTATION = (
    "I attest that I examined this patient (in person or by telehealth), that this compounded preparation is "
    "medically necessary for them, and that I am licensed in the state where they were at the encounter."
)


class OrderNotAcceptable(ServiceError):
    """The rules found errors: 422 with every preparation's findings. Nothing was saved."""

    status = 422
    code = "order_not_acceptable"

    def __init__(self, outcome: ValidationOutcome, preparations: list[dict]):
        self.outcome = outcome
        self.preparations = preparations
        count = sum(1 for r in outcome.results for f in r.findings if f.severity == "error")
        super().__init__(f"The order has {count} problem(s) to fix before it can be submitted; see `preparations`.",
                         fields={"preparations": preparations})


def _new_number() -> str:
    """RX-YYMM-NNNNNN with random digits, so numbers reveal nothing about volume."""
    return f"RX-{timezone.localdate():%y%m}-{secrets.randbelow(10**6):06d}"


def _with_unique_number(make):
    for _ in range(8):
        try:
            with transaction.atomic():
                return make(_new_number())
        except IntegrityError as exc:
            if "number" not in str(exc):
                raise
    raise ServiceError("Could not allocate an order number; try again.", code="number_exhausted")


# --- Patients ----------------------------------------------------------------------------


class PatientIdTaken(ServiceError):
    code = "patient_external_id_taken"

PATIENT_FIELDS = ("first_name", "last_name", "date_of_birth", "sex", "email", "phone", "address_line1", "address_line2", "city",
                  "state", "postal_code", "notes", "external_id")


def _check_patient(data: dict, *, clinic, instance: Patient | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    for field in ("first_name", "last_name", "address_line1", "city", "state", "postal_code"):
        if not str(data.get(field) or "").strip():
            errors[field] = ["This field is required."]
    dob = data.get("date_of_birth")
    if not dob:
        errors["date_of_birth"] = ["This field is required."]
    elif date_of_birth_problem(dob):
        errors["date_of_birth"] = [date_of_birth_problem(dob)]
    external_id = (data.get("external_id") or "").strip()
    if external_id:
        taken = Patient.objects.filter(clinic=clinic, external_id=external_id)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise PatientIdTaken("The patient cannot be saved: see fields.",
                                 fields={"external_id": [f"Another patient of this clinic has the id {external_id}."], **errors})
    if errors:
        raise ServiceError("The patient cannot be saved: see fields.", fields=errors)
    return {field: data[field] for field in PATIENT_FIELDS if field in data}


def _allergy_groups(codes) -> list[AllergenGroup]:
    groups = list(AllergenGroup.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {g.code for g in groups})
    if unknown:
        raise ServiceError("Unknown allergen group.", fields={"allergies": [f"Unknown allergen group(s): {', '.join(unknown)}."]})
    return groups


@transaction.atomic
def patient_create(*, prescriber: Prescriber, data: dict) -> Patient:
    fields = _check_patient(data, clinic=prescriber.clinic)
    groups = _allergy_groups(data.get("allergies", []))
    try:
        with transaction.atomic():
            patient = Patient.objects.create(clinic=prescriber.clinic, **fields)
    except IntegrityError:  # the same id created concurrently
        raise PatientIdTaken("Another patient of this clinic has that id.", fields={"external_id": ["Already used."]}) from None
    if groups:  # a new patient has none to compare with
        patient.allergies.add(*groups)
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, data: dict) -> Patient:
    merged = {field: getattr(patient, field) for field in PATIENT_FIELDS} | {k: v for k, v in data.items() if k in PATIENT_FIELDS}
    fields = _check_patient(merged, clinic=patient.clinic, instance=patient)
    for field, value in fields.items():
        setattr(patient, field, value)
    patient.save()
    if "allergies" in data:
        patient.allergies.set(_allergy_groups(data["allergies"]))
    return patient


# --- Drafts --------------------------------------------------------------------------------

def order_draft_create(*, prescriber: Prescriber, by, body: dict | None = None, patient: Patient | None = None) -> Order:
    body = dict(body or {})
    if patient is not None:
        body["patient_id"] = str(patient.public_id)
    body.setdefault("preparations", [{"base": "", "quantity": "", "unit": "g", "route": "topical",
                                      "ingredients": [{"ingredient": "", "percent": ""}]}])

    def make(number):
        order = Order.objects.create(number=number, clinic=prescriber.clinic, prescriber=prescriber, patient=patient,
                                     status=OrderStatus.DRAFT, draft=body, source=Source.WEB)
        event_record(order=order, kind="draft_created", actor=by, to_status=OrderStatus.DRAFT)
        return order

    return _with_unique_number(make)


def order_draft_save(*, order: Order, body: dict, patient: Patient | None) -> Order:
    """Keep what the prescriber typed, valid or not, so the draft can be resumed."""
    updated = Order.objects.filter(pk=order.pk, status=OrderStatus.DRAFT).update(
        draft=body, patient=patient, updated_at=timezone.now()
    )
    if updated != 1:
        raise ServiceError(f"Order {order.number} is no longer a draft.", code="not_a_draft")
    order.draft, order.patient = body, patient
    return order


def order_draft_discard(*, order: Order, by) -> None:
    """Throw a draft away. A draft was never an order (nothing signed, nothing sent), so it is deleted
    rather than cancelled; the change history keeps what it held. Only while it is still a draft."""
    with transaction.atomic():
        deleted, _ = Order.objects.filter(pk=order.pk, status=OrderStatus.DRAFT).delete()
    if not deleted:
        raise ServiceError(f"Order {order.number} is signed; cancel it instead.", code="not_a_draft")


# --- Submission -------------------------------------------------------------------------

def _ship_to(body: dict, patient: Patient | None) -> dict:
    given = body.get("ship_to") or {}
    if given.get("state"):
        address = {k: given.get(k, "") or "" for k in ("line1", "line2", "city", "state", "postal_code")}
    elif patient is not None:
        address = {"line1": patient.address_line1, "line2": patient.address_line2, "city": patient.city, "state": patient.state,
                   "postal_code": patient.postal_code}
    else:
        address = {}
    missing = [k for k in ("line1", "city", "state", "postal_code") if not address.get(k)]
    if missing:
        raise ServiceError("The shipping address is incomplete.", fields={"ship_to": [f"Missing: {', '.join(missing)}."]})
    return address


def _inline_patient(*, prescriber: Prescriber, data: dict, ship_to: dict) -> Patient:
    """A patient sent inline with an order: the clinic's patient with that external_id, or a new one."""
    external_id = (data.get("external_id") or "").strip()
    if external_id:
        existing = Patient.objects.filter(clinic=prescriber.clinic, external_id=external_id).first()
        if existing is not None:
            return existing
    fields = {k: v for k, v in data.items() if k in PATIENT_FIELDS}
    fields.setdefault("address_line1", ship_to["line1"])
    fields.setdefault("address_line2", ship_to.get("line2", ""))
    fields.setdefault("city", ship_to["city"])
    fields.setdefault("state", ship_to["state"])
    fields.setdefault("postal_code", ship_to["postal_code"])
    try:
        return patient_create(prescriber=prescriber, data={**fields, "allergies": data.get("allergies", [])})
    except PatientIdTaken:
        # Another order for the same new patient got there first: use the patient it created.
        return Patient.objects.get(clinic=prescriber.clinic, external_id=external_id)


class TooManyOrders(ServiceError):
    status = 429
    code = "too_many_orders"


def _order_rate_check(user) -> None:
    """A runaway script (or a stolen token) cannot flood the pharmacy: orders per account per minute,
    counted in the cache (Redis in production, shared by every web process)."""
    from django.conf import settings

    from portal import ratelimit

    limit = settings.ORDER_CREATE_PER_MINUTE
    if ratelimit.hit("order-create", str(user.pk), window=60) > limit:
        raise TooManyOrders(f"More than {limit} orders in a minute from this account. Wait a minute and send the rest.")


def order_submit(*, user, body: dict, source: str, draft: Order | None = None, today: dt.date | None = None,
                 facts=None) -> Order:
    """Check the body with the rules; if no error, sign and submit it in one transaction.

    `body` is the cleaned order body; `facts`, the formulary facts the body was cleaned with (read once per
    request), or None to read them here. Raises OrderNotAcceptable (422, nothing saved) on errors, and
    TooManyOrders (429) past ORDER_CREATE_PER_MINUTE orders a minute from one account."""
    _order_rate_check(user)
    outcome = order_validate(user=user, body=body, today=today, facts=facts)
    answers = [result_as_json(r, outcome.facts, p["unit"]) for r, p in zip(outcome.results, body["preparations"])]
    if not outcome.ok:
        raise OrderNotAcceptable(outcome, answers)
    prescriber = outcome.prescriber
    if body.get("patient") is not None:
        inline = body["patient"]
        missing = {f: ["This field is required."] for f in ("first_name", "last_name", "date_of_birth") if not inline.get(f)}
        if missing:
            raise ServiceError("The patient needs a name and a date of birth.", fields={"patient": missing})
    now = timezone.now()
    # The delivery promise made at signing: kept on the order to measure on-time shipping against.
    promise = promise_estimate(preparations=len(outcome.results), refrigerate=any(r.storage == "refrigerate" for r in outcome.results),
                               order_id=draft.pk if draft is not None else None, at=now)
    with transaction.atomic():
        # A renewal's draft: the request's lock first, as deciding a renewal takes it before discarding the draft.
        renewal = _renewal_of_draft_lock(draft=draft) if draft is not None else None
        ship_to = _ship_to(body, outcome.patient)
        patient = outcome.patient or _inline_patient(prescriber=prescriber, data=body["patient"], ship_to=ship_to)
        fields = dict(
            patient=patient,
            external_id=body.get("external_id") or "",
            ship_to_line1=ship_to["line1"], ship_to_line2=ship_to.get("line2", ""), ship_to_city=ship_to["city"],
            ship_to_state=ship_to["state"], ship_to_postal_code=ship_to["postal_code"],
            encounter_state=outcome.encounter_state,
            clinical_difference_note=body.get("clinical_difference_note") or "",
            rules_version=outcome.rules_version,
            signed_at=now, signed_by=user, attestation=ATTESTATION, draft={},
            **(_promise_fields(promise) if promise else {}),
        )
        if draft is not None:
            order = order_transition(order=draft, to=OrderStatus.SUBMITTED, by=user, kind="signed", **fields)
        else:
            def make(number):
                # Created with its event counter at 1: its first event takes that number, with no update to count it.
                created = Order.objects.create(number=number, clinic=prescriber.clinic, prescriber=prescriber,
                                               status=OrderStatus.SUBMITTED, source=source, event_sequence=1, **fields)
                event_record(order=created, kind="signed", actor=user, to_status=OrderStatus.SUBMITTED, sequence=1)
                return created

            order = _with_unique_number(make)
        preparations = _preparations_create(order=order, body=body, outcome=outcome, answers=answers)
        if renewal is not None:
            renewal_approved_record(renewal=renewal, new_order=order, by=user)
    order_as_submitted(order, preparations)
    return order


def order_as_submitted(order: Order, preparations: list[Preparation]) -> None:
    """The order just signed carries what its answer shows, so the API answers from the objects in hand (no re-read):
    its preparations as saved, and no patient link (one is issued at approval)."""
    qs = order.preparations.all()
    qs._result_cache, qs._prefetch_done = list(preparations), True
    order._prefetched_objects_cache = {**getattr(order, "_prefetched_objects_cache", {}), "preparations": qs}
    order.live_links = []


def _preparations_create(*, order: Order, body: dict, outcome: ValidationOutcome, answers: list[dict]) -> list[Preparation]:
    """The signed snapshot of each preparation: what was ordered and what the rules said of it. One insert, and one
    look-up of the master formulation records for them all, whatever their number. Returns them as saved."""
    names = {code: m.name for code, m in outcome.facts.materials.items()}
    identities = [_identity_of_body(prep, answer) for prep, answer in zip(body["preparations"], answers)]
    known = mfr_current_many(identities)
    preparations = Preparation.objects.bulk_create([
        Preparation(
            order=order, position=index + 1,
            base_code=prep["base"], base_name=outcome.facts.bases[prep["base"]].name,
            quantity=prep["quantity"], unit=prep["unit"], route=prep.get("route") or "topical",
            target_ph=result.target_ph, water_activity=prep.get("water_activity"),
            directions=prep.get("directions", ""), refills=prep.get("refills", 0), refills_remaining=prep.get("refills", 0),
            refill_interval_days=prep.get("refill_interval_days") if prep.get("refills") else None,
            exclusions={"allergen_groups": list((prep.get("exclusions") or {}).get("allergen_groups", [])),
                        "preservative_free": bool((prep.get("exclusions") or {}).get("preservative_free", False))},
            ingredients=[
                {"ingredient": line["ingredient"], "name": names[line["ingredient"]], "percent": float(line["percent"]),
                 "share_percent": float(round(result.shares[line["ingredient"]], 4))}
                for line in prep.get("ingredients", [])
            ],
            checked=answer, beyond_use_days=result.beyond_use_days, storage=result.storage,
            mfr=mfr_propose(identity=identity, checked=answer, rules_version=outcome.rules_version, quantity=prep["quantity"],
                            by=order.signed_by, source=order.number, known=known),
        )
        for index, (prep, result, answer, identity) in enumerate(zip(body["preparations"], outcome.results, answers, identities))
    ])
    for preparation in preparations:  # as the database keeps them (numeric columns round to their scale)
        preparation.quantity = _as_stored(preparation, "quantity")
        preparation.target_ph = _as_stored(preparation, "target_ph")
        preparation.water_activity = _as_stored(preparation, "water_activity")
    return preparations


def _as_stored(preparation: Preparation, name: str):
    """A decimal field's value as PostgreSQL stores it: rounded half away from zero to the column's scale."""
    value = getattr(preparation, name)
    if value is None:
        return None
    places = Preparation._meta.get_field(name).decimal_places
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def order_webhook_sequence_next(*, order: Order) -> int:
    """The order's next webhook sequence number. The update locks the order's row until the caller's
    transaction ends, so two notifications of one order never get the same number."""
    return counter_next(order=order, column="webhook_sequence")


def _identity_of_body(prep: dict, answer: dict) -> dict:
    """A preparation's formulation as its MFR (USP <795> 7.2) is keyed: the approved record, or the draft proposed for it."""
    return identity_of(base=prep["base"], route=prep.get("route") or "topical", target_ph=answer.get("target_ph"), unit=prep["unit"],
                       materials=[(line["ingredient"], line["percent"]) for line in prep.get("ingredients", [])])


def _preparation_identity(preparation: Preparation):
    """A signed preparation's formulation, as its MFR is keyed (the same fields _identity_of_body reads from the body)."""
    return identity_of(base=preparation.base_code, route=preparation.route, target_ph=preparation.checked.get("target_ph"),
                       unit=preparation.unit, materials=[(line["ingredient"], line["percent"]) for line in preparation.ingredients])


def preparation_mfr_propose(*, preparation: Preparation, by):
    """For a preparation signed before MFRs existed: link it to its formulation's MFR (proposing a draft)."""
    if preparation.mfr_id is not None:
        return preparation.mfr
    order = preparation.order
    identity = _preparation_identity(preparation)
    with transaction.atomic():
        mfr = mfr_propose(identity=identity, checked=preparation.checked, rules_version=order.rules_version,
                          quantity=preparation.quantity, by=by, source=order.number)
        Preparation.objects.filter(pk=preparation.pk, mfr__isnull=True).update(mfr=mfr)
    preparation.refresh_from_db()
    return preparation.mfr


def preparation_mfr_for_refill(*, preparation: Preparation, by):
    """A refill follows its formulation's master formulation record as it stands today (USP <795> 7.2): the approved
    version (a newer one approved since the first fill is followed from now on); with none approved (the record was
    retired), the draft proposed for it, as at verification. The preparation is linked to it; the caller decides
    whether the fill may be made (an approved version, not flagged for review). Call it in the caller's transaction."""
    current = preparation.mfr
    identity = current.identity if current is not None else _preparation_identity(preparation)
    order = preparation.order
    mfr = mfr_propose(identity=identity, checked=preparation.checked, rules_version=order.rules_version, quantity=preparation.quantity,
                      by=by, source=order.number)
    if mfr.pk != preparation.mfr_id:
        Preparation.objects.filter(pk=preparation.pk).update(mfr=mfr)
        preparation.mfr = mfr
    return mfr


def preparation_mfr_choose(*, preparation: Preparation, mfr, by):
    """The pharmacist points a preparation at another approved version of exactly its formulation (its own draft was
    retired, or a newer version was approved meanwhile). Only while the order awaits verification."""
    if preparation.order.status not in (OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION):
        raise ServiceError(f"Order {preparation.order.number} is {preparation.order.get_status_display().lower()}: its master "
                           "formulation records no longer change.", code="illegal_transition", status=409)
    if mfr.status != MfrStatus.APPROVED:
        raise ServiceError(f"{mfr.label} is {mfr.get_status_display().lower()}: choose an approved version.", code="MFR_NOT_APPROVED",
                           status=409)
    current = preparation.mfr
    if current is None or current.formulation_key != mfr.formulation_key:
        raise ServiceError(f"{mfr.label} is not this preparation's formulation (base, materials and strengths, route, pH and unit "
                           "must match exactly).", fields={"mfr": ["Not the same formulation."]})
    Preparation.objects.filter(pk=preparation.pk).update(mfr=mfr)
    preparation.refresh_from_db()
    return preparation


def _promise_fields(promise: PromiseDates) -> dict:
    return {"promised_ship_date": promise.ship_date, "promised_delivery_date": promise.delivery_date,
            "estimated_delivery_date": promise.delivery_date}


# --- Rush ----------------------------------------------------------------------------------

RUSH_OPEN = (OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION, OrderStatus.CLARIFICATION_REQUESTED, OrderStatus.APPROVED)
RUSH_ANSWERERS = ("pharmacist", "pharmacy_admin")


def _rush_update(*, order: Order, was: str, **fields) -> Order:
    """Compare-and-swap on the rush state; the version moves like any change (the API's ETag)."""
    updated = Order.objects.filter(pk=order.pk, rush=was).update(version=F("version") + 1, updated_at=timezone.now(), **fields)
    if updated != 1:
        order.refresh_from_db()
        raise IllegalTransition(f"Order {order.number}'s rush request was changed by someone else; reload the order.")
    order.refresh_from_db()
    return order


def order_rush_request(*, order: Order, by, reason: str) -> Order:
    """The prescriber (or their platform) asks for the order to be rushed, saying why; the pharmacist answers."""
    if by.role not in ("prescriber", "platform"):
        raise Forbidden("Rush is asked by the prescriber; the pharmacy answers it.")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why the order is urgent: the pharmacist decides on it.", fields={"reason": ["This field is required."]})
    if len(reason) > 1000:
        raise ServiceError("Keep the reason under 1,000 characters.", fields={"reason": ["At most 1,000 characters."]})
    if order.status not in RUSH_OPEN:
        raise IllegalTransition(f"Order {order.number} is {order.get_status_display().lower()}; rush can be asked while the pharmacy "
                                "still has it to make.")
    if not order.preparations.exclude(status__in=[PreparationStatus.SHIPPED, PreparationStatus.DELIVERED,
                                                  PreparationStatus.CANCELLED]).exists():
        raise IllegalTransition(f"Everything in order {order.number} has already shipped.")
    if order.rush in (RushStatus.REQUESTED, RushStatus.ACCEPTED):
        raise IllegalTransition(f"Rush was already asked for order {order.number} ({order.get_rush_display().lower()}).")
    with transaction.atomic():
        order = _rush_update(order=order, was=order.rush, rush=RushStatus.REQUESTED, rush_reason=reason, rush_answer="")
        event_record(order=order, kind="rush_requested", actor=by, message=reason)
    return order


RUSH_ANSWER_MAX = 1000


def order_rush_answer(*, order: Order, by, accept: bool, reason: str = "", promise: PromiseDates | None = None) -> Order:
    """The pharmacist's answer. Fulfillment calls this from its rush workflow, which also moves the
    order's jobs up the queue and works out the new promise (`promise`) in the same transaction."""
    if by.role not in RUSH_ANSWERERS:
        raise Forbidden("Only a pharmacist answers a rush request.")
    reason = (reason or "").strip()
    if order.rush != RushStatus.REQUESTED:
        raise IllegalTransition(f"No rush request is waiting on order {order.number}.")
    if not accept and not reason:
        raise ServiceError("Tell the prescriber why the rush is declined.", fields={"reason": ["This field is required."]})
    if len(reason) > RUSH_ANSWER_MAX:  # never cut what the pharmacist wrote
        raise ServiceError("Nothing was changed: shorten the reason.",
                           fields={"reason": [f"At most {RUSH_ANSWER_MAX} characters (this has {len(reason)})."]})
    fields = {"rush": RushStatus.ACCEPTED if accept else RushStatus.DECLINED, "rush_answer": reason}
    if accept and promise is not None:
        fields.update(_promise_fields(promise))
    with transaction.atomic():
        order = _rush_update(order=order, was=RushStatus.REQUESTED, **fields)
        message = reason if not accept else (f"Now promised to ship by {promise.ship_date:%A, %B} {promise.ship_date.day}."
                                             if promise else "")
        event_record(order=order, kind="rush_accepted" if accept else "rush_declined", actor=by, message=message)
    return order


def order_delivery_estimate_set(*, order: Order, delivery_date) -> None:
    """Once shipped, the carrier's estimate replaces the promise as the expected delivery (the promise stays)."""
    Order.objects.filter(pk=order.pk).update(estimated_delivery_date=delivery_date, version=F("version") + 1, updated_at=timezone.now())


def order_cancel(*, order: Order, by, reason: str = "") -> Order:
    if order.status == OrderStatus.DRAFT:
        raise IllegalTransition(f"Order {order.number} is a draft that was never signed, so there is nothing to cancel: "
                                "discard the draft instead (nothing was sent to the pharmacy).")
    return order_transition(order=order, to=OrderStatus.CANCELLED, by=by, message=reason.strip(), kind=OrderEventKind.CANCELLED)


def order_request_clarification(*, order: Order, by, question: str) -> Order:
    question = (question or "").strip()
    if not question:
        raise ServiceError("Write the question for the prescriber.", fields={"question": ["This field is required."]})
    return order_transition(order=order, to=OrderStatus.CLARIFICATION_REQUESTED, by=by, message=question, kind="clarification_requested")


def order_answer_clarification(*, order: Order, by, answer: str) -> Order:
    answer = (answer or "").strip()
    if not answer:
        raise ServiceError("Write your answer for the pharmacist.", fields={"answer": ["This field is required."]})
    return order_transition(order=order, to=OrderStatus.SUBMITTED, by=by, message=answer, kind="clarification_answered")


# --- Amending an order the pharmacist asked about ----------------------------------------------

def preparations_as_body(order: Order) -> list[dict]:
    """The order's preparations as the order body takes them (to edit them again)."""
    return [
        {
            "base": p.base_code, "quantity": f"{p.quantity.normalize():f}", "unit": p.unit, "route": p.route,
            "target_ph": f"{p.target_ph.normalize():f}" if p.target_ph is not None else "", "directions": p.directions,
            "refills": p.refills, "water_activity": str(p.water_activity) if p.water_activity is not None else "",
            "ingredients": [{"ingredient": line["ingredient"], "percent": str(line["percent"])} for line in p.ingredients],
            "exclusions": p.exclusions,
        }
        for p in order.preparations.all()
    ]


def _preparation_snapshot(p: Preparation) -> dict:
    return {"position": p.position, "base_code": p.base_code, "base_name": p.base_name, "quantity": f"{p.quantity.normalize():f}",
            "unit": p.unit, "route": p.route, "target_ph": f"{p.target_ph.normalize():f}" if p.target_ph is not None else None,
            "directions": p.directions, "refills": p.refills, "exclusions": p.exclusions, "ingredients": p.ingredients,
            "beyond_use_days": p.beyond_use_days, "storage": p.storage}


class NotAwaitingAnswer(ServiceError):
    status = 409
    code = "illegal_transition"


def _awaiting_answer(order: Order) -> None:
    if order.status != OrderStatus.CLARIFICATION_REQUESTED:
        raise NotAwaitingAnswer(f"Order {order.number} is {order.get_status_display().lower()}: only an order the pharmacist asked "
                                "about can be amended.")


def order_amend_start(*, order: Order, by) -> Order:
    """Open the order's preparations for editing, while the question waits (the order keeps its status)."""
    _awaiting_answer(order)
    body = {"patient_id": str(order.patient.public_id), "encounter_state": order.encounter_state,
            "clinical_difference_note": order.clinical_difference_note, "preparations": preparations_as_body(order),
            "amending": True}
    if order.draft.get("amending"):
        return order  # already open: keep what was typed
    updated = Order.objects.filter(pk=order.pk, status=OrderStatus.CLARIFICATION_REQUESTED).update(draft=body, updated_at=timezone.now())
    if updated != 1:
        order.refresh_from_db()
        _awaiting_answer(order)
    order.draft = body
    return order


def order_amend_draft_save(*, order: Order, body: dict) -> Order:
    """Keep what the prescriber types while amending; the patient stays the order's."""
    body = {**body, "patient_id": str(order.patient.public_id), "amending": True}
    updated = Order.objects.filter(pk=order.pk, status=OrderStatus.CLARIFICATION_REQUESTED).update(draft=body, updated_at=timezone.now())
    if updated != 1:
        order.refresh_from_db()
        _awaiting_answer(order)
    order.draft = body
    return order


def order_amend(*, order: Order, by, body: dict, note: str = "", today: dt.date | None = None) -> Order:
    """Sign the order again with changed preparations: the answer to the pharmacist's question. The same checks
    as a new order (422, nothing saved); the order goes back to the pharmacist as a new version, the version
    before kept on an OrderAmendment. Refused with 409, nothing changed, unless the order still waits for an answer."""
    _awaiting_answer(order)
    body = {**body, "patient_id": order.patient.public_id}
    body.pop("patient", None)
    body.pop("amending", None)
    outcome = order_validate(user=by, body=body, today=today)
    answers = [result_as_json(r, outcome.facts, p["unit"]) for r, p in zip(outcome.results, body["preparations"])]
    if not outcome.ok:
        raise OrderNotAcceptable(outcome, answers)
    note = (note or "").strip()[:2000]
    with transaction.atomic():
        version = order.amendments.count() + 2
        previous = [_preparation_snapshot(p) for p in order.preparations.all()]
        # The door first: if the pharmacy approved, rejected or cancelled meanwhile, this raises and nothing changes.
        order = order_transition(order=order, to=OrderStatus.SUBMITTED, by=by, kind="amended",
                                 message=f"version {version}" + (f": {note}" if note else ""),
                                 rules_version=outcome.rules_version, encounter_state=outcome.encounter_state,
                                 clinical_difference_note=body.get("clinical_difference_note") or "", draft={},
                                 signed_at=timezone.now(), signed_by=by, attestation=ATTESTATION)
        OrderAmendment.objects.create(order=order, version=version, previous=previous, note=note, by=by)
        order.preparations.all().delete()
        _preparations_create(order=order, body=body, outcome=outcome, answers=answers)
    return order


# --- Favourites and reorders ---------------------------------------------------------------

def favourite_save(*, prescriber: Prescriber, name: str, preparation: dict, visibility: str = Visibility.MINE) -> Favourite:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Name the favourite.", fields={"name": ["This field is required."]})
    if visibility not in Visibility.values:
        raise ServiceError("Choose who sees the favourite.", fields={"visibility": ["Only me, or my clinic."]})
    if not preparation.get("base"):
        raise ServiceError("Choose a base before saving a favourite.", fields={"base": ["This field is required."]})
    kept = {k: preparation[k] for k in ("base", "quantity", "unit", "route", "target_ph", "directions", "refills", "ingredients",
                                        "exclusions") if k in preparation}
    favourite, _ = Favourite.objects.update_or_create(
        owner=prescriber, name=name[:120], defaults={"clinic": prescriber.clinic, "visibility": visibility, "preparation": kept}
    )
    return favourite


def _own_favourite(favourite: Favourite, prescriber: Prescriber) -> None:
    """A clinic's shared favourite is used by all, changed by its owner only."""
    if favourite.owner_id != prescriber.pk:
        raise Forbidden(f"“{favourite.name}” is {favourite.owner}'s favourite: only they can change it.")


def favourite_rename(*, favourite: Favourite, prescriber: Prescriber, name: str) -> Favourite:
    _own_favourite(favourite, prescriber)
    name = (name or "").strip()[:120]
    if not name:
        raise ServiceError("Name the favourite.", fields={"name": ["This field is required."]})
    if Favourite.objects.filter(owner=prescriber, name=name).exclude(pk=favourite.pk).exists():
        raise ServiceError(f"You already have a favourite called “{name}”.", fields={"name": ["Choose another name."]})
    Favourite.objects.filter(pk=favourite.pk).update(name=name)
    favourite.name = name
    return favourite


def favourite_delete(*, favourite: Favourite, prescriber: Prescriber) -> None:
    _own_favourite(favourite, prescriber)
    Favourite.objects.filter(pk=favourite.pk).delete()


def order_start_from_favourite(*, prescriber: Prescriber, by, favourite: Favourite, patient: Patient | None = None) -> Order:
    """A draft from a favourite, for this patient: the favourite's own allergen exclusions belonged to the
    patient it was saved from, so the new patient's allergies replace them (preservative-free is the
    formula's choice and stays). A withdrawn ingredient stays in its line, to be marked on the page."""
    preparation = dict(favourite.preparation)
    exclusions = dict(preparation.get("exclusions") or {})
    exclusions["allergen_groups"] = [g.code for g in patient.allergies.all()] if patient is not None else []
    exclusions["preservative_free"] = bool(exclusions.get("preservative_free", False))
    preparation["exclusions"] = exclusions
    body = {"preparations": [preparation]}
    if patient is not None:
        body["encounter_state"] = patient.state
    return order_draft_create(prescriber=prescriber, by=by, body=body, patient=patient)


def order_reorder_body(order: Order, *, only: Preparation | None = None) -> dict:
    """A past order as an order body (no patient: the caller says whose), all its preparations or `only` one."""
    preparations = [
        {
            "base": p.base_code, "quantity": plain_number(p.quantity), "unit": p.unit, "route": p.route,
            "target_ph": plain_number(p.target_ph), "directions": p.directions, "refills": p.refills,
            "refill_interval_days": p.refill_interval_days,
            "ingredients": [{"ingredient": line["ingredient"], "percent": plain_number(line["percent"])} for line in p.ingredients],
            "exclusions": p.exclusions,
        }
        for p in order.preparations.all() if only is None or p.pk == only.pk
    ]
    return {"clinical_difference_note": order.clinical_difference_note, "encounter_state": order.encounter_state, "preparations": preparations}


def order_reorder(*, prescriber: Prescriber, by, order: Order) -> Order:
    """A new draft with the same patient and preparations as a past order (re-checked when signed)."""
    return order_draft_create(prescriber=prescriber, by=by, body=order_reorder_body(order), patient=order.patient)


def renewal_approved_record(*, renewal, new_order: Order, by) -> None:
    """A renewal request approved by `new_order` (signed from it, or from its changed draft): in the signing's transaction."""
    from orders.models import RenewalRequest, RenewalStatus

    RenewalRequest.objects.filter(pk=renewal.pk, status=RenewalStatus.PENDING).update(
        status=RenewalStatus.APPROVED, new_order=new_order, decided_by=by, decided_at=timezone.now(), draft=None)
    prep = renewal.preparation
    who = by.get_full_name() or by.username
    event_record(order=prep.order, preparation=prep, kind="renewal_approved", actor=by, message=f"renewed by {who} as order {new_order.number}")


def _renewal_of_draft_lock(*, draft: Order):
    """The pending renewal request whose changed copy `draft` is, its row locked until the signing commits (signing
    approves it), or None for any other draft. Refused when the renewal was decided another way meanwhile."""
    from orders.models import RenewalRequest, RenewalStatus

    renewal = (RenewalRequest.objects.select_for_update(of=("self",)).select_related("preparation__order")
               .filter(draft_id=draft.pk).first())
    if renewal is None:
        return None
    if renewal.status != RenewalStatus.PENDING:  # decided another way meanwhile (the API, the other button, a denial)
        done = (f"approved as order {Order.objects.filter(pk=renewal.new_order_id).values_list('number', flat=True).first()}"
                if renewal.status == RenewalStatus.APPROVED else "denied")
        raise ServiceError(f"This draft renews a prescription whose renewal was already {done}, so signing it would send a "
                           "second order: discard the draft instead.", code="renewal_decided", status=409)
    return renewal


def prescriber_of(user, prescriber_npi: str | None = None) -> Prescriber:
    return prescriber_for_caller(user=user, prescriber_npi=prescriber_npi)


# --- A pharmacist's beyond-use date ---------------------------------------------------------

BUD_ASSIGNABLE = (OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION)


def _lots_to_use(preparation: Preparation, *, on: dt.date) -> list:
    """The lots the batch would take today, first to expire first (as the worksheet will list them)."""
    lines = (preparation.checked.get("batch") or {}).get("lines", [])
    stock = lots_for(material_codes=[line["item"] for line in lines if line["kind"] == "material"],
                     base_codes=[line["item"] for line in lines if line["kind"] == "base"], on=on)
    by_item: dict[str, list] = {}
    for lot in stock:
        by_item.setdefault(lot.item_code, []).append(lot)
    chosen = []
    for line in lines:
        amount = line.get("millilitres") if line["kind"] == "base" and line.get("millilitres") is not None else line["quantity"]
        lots, _enough = fefo(by_item.get(line["item"], []), Decimal(str(amount)))
        chosen.extend(lots)
    return chosen


def preparation_bud_assign(*, preparation: Preparation, by, days, citation: str, reason: str, today: dt.date | None = None) -> Preparation:
    """A pharmacist assigns a beyond-use period longer or shorter than the USP <795> table's, citing
    what supports it (BUD-13, BUD-14), while the order is being verified. Never past the expiry of a
    lot the batch would use. A technician is refused; nothing is saved on any problem."""
    if by.role not in (Role.PHARMACIST, Role.PHARMACY_ADMIN):
        raise Forbidden("Only a pharmacist assigns a beyond-use date.", code="pharmacist_only")
    order = preparation.order
    if order.status not in BUD_ASSIGNABLE:
        raise ServiceError(f"Order {order.number} is {order.get_status_display().lower()}: a beyond-use date is assigned while "
                           "the order is being verified.", code="illegal_transition", status=409)
    today = today or timezone.localdate()
    try:
        days = int(str(days).strip())
    except (TypeError, ValueError):
        days = None
    citation, reason = (citation or "").strip(), (reason or "").strip()
    lines = (preparation.checked.get("batch") or {}).get("lines", [])
    problems = assigned_bud_problems(days=days, citation=citation, reason=reason, start=today, table_days=preparation.beyond_use_days,
                                     lots=_lots_to_use(preparation, on=today),
                                     names={line["item"]: line.get("name") or line["item"] for line in lines})
    if problems:
        fields: dict[str, list[str]] = {}
        for problem in problems:
            fields.setdefault(problem.field, []).append(problem.message)
        raise ServiceError("The beyond-use date was not saved:", code="bud_refused",
                           fields=fields)
    with transaction.atomic():
        Preparation.objects.filter(pk=preparation.pk).update(
            assigned_bud_days=days, bud_citation=citation[:2000], bud_reason=reason[:2000], bud_assigned_by=by,
            bud_assigned_at=timezone.now())
        longer = "longer" if days > preparation.beyond_use_days else "shorter"
        event_record(order=order, preparation=preparation, kind="bud_assigned", actor=by,
                     message=f"Beyond-use period of preparation {preparation.position} set to {days} days ({longer} than the table's "
                             f"{preparation.beyond_use_days}) by {by.get_full_name() or by.username} per {citation[:300]}. "
                             f"Reason: {reason[:300]}")
    preparation.refresh_from_db()
    return preparation


def preparation_bud_clear(*, preparation: Preparation, by) -> Preparation:
    """Back to the table's date."""
    if by.role not in (Role.PHARMACIST, Role.PHARMACY_ADMIN):
        raise Forbidden("Only a pharmacist changes a beyond-use date.", code="pharmacist_only")
    order = preparation.order
    if order.status not in BUD_ASSIGNABLE:
        raise ServiceError(f"Order {order.number} is {order.get_status_display().lower()}: its dates can no longer change.",
                           code="illegal_transition", status=409)
    with transaction.atomic():
        Preparation.objects.filter(pk=preparation.pk).update(assigned_bud_days=None, bud_citation="", bud_reason="",
                                                             bud_assigned_by=None, bud_assigned_at=None)
        event_record(order=order, preparation=preparation, kind="bud_assigned", actor=by,
                     message=f"Beyond-use period of preparation {preparation.position} back to the table's {preparation.beyond_use_days} days "
                             f"({by.get_full_name() or by.username}).")
    preparation.refresh_from_db()
    return preparation


def preparation_auto_refill_pause(*, preparation: Preparation, paused: bool, by=None) -> Preparation:
    """The patient (by None, from the status page) or the prescriber pauses or resumes automatic refills."""
    if not preparation.refill_interval_days:
        raise ServiceError("This preparation has no automatic refills.")
    with transaction.atomic():
        changed = Preparation.objects.filter(pk=preparation.pk, auto_refill_paused=not paused).update(auto_refill_paused=paused)
        if changed:
            who = "the patient" if by is None else (by.get_full_name() or by.username)
            event_record(order=preparation.order, preparation=preparation, kind="auto_refill_paused" if paused else "auto_refill_resumed",
                         actor=by, message=f"automatic refills {'paused' if paused else 'resumed'} by {who}")
    preparation.auto_refill_paused = paused
    return preparation
