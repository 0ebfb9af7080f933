"""Renewals (issue 18): when a preparation has no refills left (or its prescription expired), the pharmacy or the
patient asks the prescriber to renew it. The prescriber approves (a new signed order copying the preparation, with
its own refills), approves with changes (the order form, prefilled; signing it approves), or denies with a reason.

Asking is allowed only when a refill is refused for NO_REFILLS_LEFT or PRESCRIPTION_EXPIRED (the refill rules decide,
orders/rules/refills.py); a refill refused for those reasons asks by itself (renewal_after_refusal). Approving twice
makes one order: the request's row is locked and must still be pending."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from fulfillment.refills import _source_for, refill_facts
from orders import services as order_services
from orders.models import Order, Preparation, RenewalRequest, RenewalStatus, Source
from orders.rules.refills import Refusal, refill_refusal
from orders.transitions import event_record
from portal.errors import Conflict, Forbidden, ServiceError
from portal.models import Role

RENEWABLE = frozenset({"NO_REFILLS_LEFT", "PRESCRIPTION_EXPIRED"})
RECHECK_FAILED = "REFILL_RECHECK_FAILED"  # a refill stopped by today's check of the formula: the prescriber is asked too


NOTE_MAX = 1000  # the note asking for it (the API's body says 1000 too)
REASON_MAX = 2000  # the prescriber's reason for denying (the API's ReasonSerializer says 2000 too)


class RenewalDecided(Conflict):
    code = "renewal_already_decided"


def _length_check(name: str, value: str, limit: int, what: str) -> None:
    """Never cut what a person wrote: refuse it, nothing saved."""
    if len(value) > limit:
        said = f"At most {limit} characters (this has {len(value)})."
        raise ServiceError(f"{what} is too long: {said[0].lower()}{said[1:]} Nothing was saved.", fields={name: [said]})


def _who(by, source: str) -> str:
    if by is None:
        return "the patient" if source == "patient" else "the system"
    return by.get_full_name() or by.username


def renewal_request(*, preparation: Preparation, by, note: str = "", source: str | None = None,
                    why: str | None = None) -> tuple[RenewalRequest, bool]:
    """Ask the prescriber to renew `preparation`. Returns (request, created): a request already waiting is answered
    again rather than doubled. Refused (409 RENEWAL_NOT_NEEDED) while a refill can still be had."""
    note = " ".join(str(note or "").split())
    _length_check("note", note, NOTE_MAX, "The note")
    source = source or _source_for(by)
    with transaction.atomic():
        locked = Preparation.objects.select_for_update().select_related("order").get(pk=preparation.pk)
        waiting = RenewalRequest.objects.filter(preparation=locked, status=RenewalStatus.PENDING).first()
        if waiting is not None:
            return waiting, False
        refusal = refill_refusal(refill_facts(locked))
        if why == RECHECK_FAILED and refusal is None:  # the refill rules allow it; today's check of the formula does not
            refusal = Refusal(RECHECK_FAILED, "")
        if refusal is None or refusal.code not in RENEWABLE | {RECHECK_FAILED}:
            if refusal is not None and refusal.code == "ORDER_NOT_ACTIVE":
                raise Conflict(refusal.message, code="ORDER_NOT_ACTIVE")
            raise Conflict("Refills remain on this prescription: ask for a refill instead of a renewal.", code="RENEWAL_NOT_NEEDED")
        try:
            with transaction.atomic():
                renewal = RenewalRequest.objects.create(preparation=locked, source=source, requested_by=by, note=note,
                                                         why=refusal.code)
        except IntegrityError:  # another request got there first (the partial unique index): answer that one
            return RenewalRequest.objects.get(preparation=locked, status=RenewalStatus.PENDING), False
        why = {"NO_REFILLS_LEFT": "no refills left", "PRESCRIPTION_EXPIRED": "prescription expired"}.get(
            refusal.code, "checked again today, it has an error only the prescriber can resolve")
        event_record(order=locked.order, preparation=locked, kind="renewal_requested", actor=by,
                     message=f"renewal asked by {_who(by, source)} ({why})" + (f"; note: {note}" if note else ""))
    return renewal, True


def renewal_after_refusal(*, preparation: Preparation, refusal_code: str, by, source: str | None = None) -> RenewalRequest | None:
    """A refill refused because none are left or the prescription expired asks the prescriber to renew (after the
    refusal: the refused request saved nothing). None for any other refusal."""
    if refusal_code not in RENEWABLE | {RECHECK_FAILED} or (by is not None and by.role == Role.PRESCRIBER):
        return None  # a prescriber renews by writing the order again, not by asking themselves
    try:
        renewal, _created = renewal_request(preparation=preparation, by=by, source=source,
                                            why=RECHECK_FAILED if refusal_code == RECHECK_FAILED else None)
    except ServiceError:
        return None
    return renewal


def _decide_check(renewal: RenewalRequest, by) -> RenewalRequest:
    """Lock the request; only a prescriber of its clinic decides, once."""
    if by is None or by.role != Role.PRESCRIBER:
        raise Forbidden("Only a prescriber renews a prescription.")
    # The row is re-read once the lock is ours; a joined row would come from before the wait (PostgreSQL), so the new
    # order another approval just made is read on its own.
    locked = RenewalRequest.objects.select_for_update(of=("self",)).select_related("preparation__order").get(pk=renewal.pk)
    if locked.status != RenewalStatus.PENDING:
        if locked.status == RenewalStatus.APPROVED:
            number = Order.objects.filter(pk=locked.new_order_id).values_list("number", flat=True).first()
            raise RenewalDecided(f"This renewal was already approved: order {number}.")
        raise RenewalDecided("This renewal was already denied.")
    return locked


def renewal_body(renewal: RenewalRequest, *, preparation: dict | None = None) -> dict:
    """The new order's body: the same patient (their address), the visit's state and note, and the preparation as
    signed (or as changed). Refills are the prescriber's own: as written before unless changed."""
    prep = renewal.preparation
    order = prep.order
    body = order_services.order_reorder_body(order, only=prep)
    if preparation is not None:
        body["preparations"] = [preparation]
    body["patient_id"] = str(order.patient.public_id)
    return body


def renewal_approve(*, renewal: RenewalRequest, by, body: dict, source: str = Source.WEB) -> Order:
    """Approve: sign `body` (renewal_body, validated by the caller) as a new order, in one transaction with the
    decision; a finding that is an error refuses it (422) and the request keeps waiting."""
    with transaction.atomic():
        locked = _decide_check(renewal, by)
        new = order_services.order_submit(user=by, body=body, source=source)
        order_services.renewal_approved_record(renewal=locked, new_order=new, by=by)
        _draft_discard(locked)
    return new


def _draft_discard(renewal: RenewalRequest) -> None:
    """A renewal decided without its prefilled draft (approved through the API or as it was, or denied): the draft goes,
    so it cannot later be signed as a second order."""
    if renewal.draft_id:
        Order.objects.filter(pk=renewal.draft_id, status="draft").delete()


def renewal_change_start(*, renewal: RenewalRequest, by) -> Order:
    """Approve with changes: a draft of the new order, prefilled, for the prescriber to change and sign; signing it
    approves the renewal (orders.services.order_submit)."""
    with transaction.atomic():
        locked = _decide_check(renewal, by)
        if locked.draft_id and locked.draft.status == "draft":
            return locked.draft
        body = renewal_body(locked)
        body.pop("patient_id", None)
        draft = order_services.order_draft_create(prescriber=order_services.prescriber_of(by), by=by, body=body,
                                                  patient=locked.preparation.order.patient)
        RenewalRequest.objects.filter(pk=locked.pk).update(draft=draft)
    return draft


def renewal_deny(*, renewal: RenewalRequest, by, reason: str) -> RenewalRequest:
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ServiceError("Say why you deny the renewal: the pharmacy and the patient are told.", fields={"reason": ["This field is required."]})
    _length_check("reason", reason, REASON_MAX, "The reason")
    with transaction.atomic():
        locked = _decide_check(renewal, by)
        RenewalRequest.objects.filter(pk=locked.pk, status=RenewalStatus.PENDING).update(
            status=RenewalStatus.DENIED, reason=reason, decided_by=by, decided_at=timezone.now())
        prep = locked.preparation
        event_record(order=prep.order, preparation=prep, kind="renewal_denied", actor=by, message=f"renewal denied: {reason}")
        _draft_discard(locked)
    locked.refresh_from_db()
    return locked
