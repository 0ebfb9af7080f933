"""Refills (issue 18): a request makes fill n of a signed preparation as its own job (its own worksheet,
compounding record, QC, label dated from its own compounding, shipment). The rules are pure
(orders/rules/refills.py, docs/rules.md); this module gathers their facts under the preparation's row
lock, so two requests for the last refill are decided one after the other: one is made, the other is
refused. refills_remaining goes down when the pharmacist releases the fill (refill_release)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from formulary.models import MfrStatus
from fulfillment.models import Job, JobStatus
from fulfillment.transitions import job_create
from orders import services as order_services
from orders.models import Preparation, RefillRequest, RefillSource, RefillStatus
from orders.rules.refills import RefillFacts, Refusal, next_refill_on, refill_refusal
from orders.rules.titles import title
from orders.validation import preparation_recheck
from orders.transitions import event_record
from portal.errors import Conflict, ServiceError
from portal.models import Role

PHARMACISTS = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
# A fill still being made: a refill waits for it.
IN_PROGRESS = frozenset({JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.READY, JobStatus.ON_HOLD, JobStatus.REWORK})


class RefillRefused(Conflict):
    """409 with the rule's code; `earliest` for REFILL_TOO_SOON."""

    def __init__(self, refusal: Refusal, *, extra_message: str = ""):
        super().__init__(f"{refusal.message}{' ' + extra_message if extra_message else ''}", code=refusal.code)
        self.refusal = refusal
        self.extra = {"earliest": refusal.earliest.isoformat()} if refusal.earliest else {}


def refill_facts(preparation: Preparation, *, today=None, jobs=None, released_fills=None) -> RefillFacts:
    """The plain facts the refill rules read, for one preparation (reads only; the caller holds the lock when it writes).
    A page that read the preparation's jobs (with their shipments) and released fills already passes them in."""
    order = preparation.order
    if jobs is None:
        jobs = list(Job.objects.filter(preparation=preparation).select_related("shipment").order_by("fill"))
    shipped = [j.shipment.shipped_at for j in jobs if j.shipment_id and j.shipment.shipped_at]
    if released_fills is None:
        released_fills = set(RefillRequest.objects.filter(preparation=preparation, status=RefillStatus.RELEASED).values_list("fill", flat=True))
    released = released_fills
    # A refill requested and not yet released holds one of the remaining; a cancelled one gives it back.
    open_refills = sum(1 for j in jobs if j.fill and j.status != JobStatus.CANCELLED and j.fill not in released)
    return RefillFacts(
        today=today or timezone.localdate(),
        order_status=order.status,
        preparation_status=preparation.status,
        signed_on=timezone.localtime(order.signed_at).date() if order.signed_at else timezone.localdate(),
        refills=preparation.refills,
        refills_remaining=preparation.refills_remaining,
        open_refills=open_refills,
        fill_in_progress=any(j.status in IN_PROGRESS for j in jobs),
        last_shipped_on=timezone.localtime(max(shipped)).date() if shipped else None,
        interval_days=preparation.refill_interval_days,
        expiry_days=settings.REFILL_PRESCRIPTION_EXPIRY_DAYS,
        too_soon_share=settings.REFILL_TOO_SOON_PERCENT / 100,
        default_gap_days=settings.REFILL_DEFAULT_GAP_DAYS,
    )


def refill_outlook(preparation: Preparation, *, today=None, jobs=None, released_fills=None) -> dict:
    """For pages and the API: refills left, when the next one is due, and why one cannot be asked for now."""
    facts = refill_facts(preparation, today=today, jobs=jobs, released_fills=released_fills)
    refusal = refill_refusal(facts)
    return {"refills": facts.refills, "refills_remaining": facts.refills_remaining, "open_refills": facts.open_refills,
            "next_refill_on": next_refill_on(facts), "refusal": refusal, "can_request": refusal is None}


def _source_for(by) -> str:
    if by is None:
        return RefillSource.PATIENT
    if by.role == Role.PRESCRIBER:
        return RefillSource.PRESCRIBER
    if by.role in (Role.PHARMACIST, Role.PHARMACY_ADMIN, Role.TECHNICIAN):
        return RefillSource.PHARMACY
    return RefillSource.API


TEXT_MAX = 1000  # the note and the override reason (RefillRequest's columns hold more; the API's body says 1000)


def refill_request(*, preparation: Preparation, by, note: str = "", override_reason: str = "", source: str | None = None,
                   today=None) -> tuple[RefillRequest, Job, str]:
    """Make the next fill of `preparation`, or refuse with the rule's code (409, nothing saved). `by` is the
    person asking (None for the patient's own request or the auto-refill beat: `source` says which).

    A pharmacist may override REFILL_TOO_SOON with a reason; anyone else's override reason is ignored, and the
    third value returned says so in words ("" when nothing was ignored)."""
    note = " ".join(str(note or "").split())
    override_reason = " ".join(str(override_reason or "").split())
    too_long = {name: [f"At most {TEXT_MAX} characters (this has {len(value)})."]
                for name, value in (("note", note), ("override_reason", override_reason)) if len(value) > TEXT_MAX}
    if too_long:  # never cut what a person wrote: refuse it, nothing saved
        said = {"note": "The note", "override_reason": "The reason to fill early"}
        raise ServiceError("Nothing was requested: " + " ".join(f"{said[name]}: {words[0]}" for name, words in too_long.items()),
                           fields=too_long)
    ignored = ""
    if override_reason and (by is None or by.role not in PHARMACISTS):
        ignored = "Only a pharmacist can fill a refill early; the override reason was ignored."
        override_reason = ""
    with transaction.atomic():
        # The preparation's row lock: every request for this preparation waits here for the one before it.
        # Locks the preparation and its order, as before (of=…); its master formulation record comes in the same read,
        # unlocked (refills of one formulation share it), for the refill's record check below.
        locked = Preparation.objects.select_for_update(of=("self", "order")).select_related("order", "mfr").get(pk=preparation.pk)
        # The preparation's jobs, read once under the lock: the rules' facts and the next fill's number.
        jobs = list(Job.objects.filter(preparation=locked).select_related("shipment").order_by("fill"))
        facts = refill_facts(locked, today=today, jobs=jobs)
        refusal = refill_refusal(facts)
        if refusal is not None and not (refusal.overridable and override_reason):
            raise RefillRefused(refusal, extra_message=ignored)
        if refusal is None:
            override_reason = ""  # nothing to override: not recorded as an early fill
        _recheck(locked, today=today)
        order = locked.order
        fill = max((job.fill or 0 for job in jobs), default=0) + 1
        request = RefillRequest.objects.create(preparation=locked, fill=fill, source=source or _source_for(by), requested_by=by,
                                               note=note, override_reason=override_reason)
        asked_by = {RefillSource.PATIENT: "the patient", RefillSource.AUTO: "auto-refill"}.get(request.source) or (
            (by.get_full_name() or by.username) if by is not None else "the system")
        what = f"refill {fill} of {locked.refills}, asked by {asked_by}"
        event_record(order=order, preparation=locked, kind="refill_requested", actor=by,
                     message=what + (f"; early, {override_reason}" if override_reason else "") + (f"; note: {note}" if note else ""))
        waits = _refill_mfr(locked, fill=fill, by=by)
        job = _refill_job_create(preparation=locked, fill=fill, by=by)
    return request, job, " ".join(part for part in (ignored, waits) if part)


def _refill_mfr(preparation: Preparation, *, fill: int, by) -> str:
    """The fill follows the approved master formulation record of its formulation as it stands today. When none is
    approved (retired, a draft proposed now as at verification) or it is flagged for review, the fill is made only
    after a pharmacist approves it (job_claim refuses until then): returns that in words, and the order's history says
    it too; "" when the fill may be made."""
    mfr = order_services.preparation_mfr_for_refill(preparation=preparation, by=by)
    if mfr.status == MfrStatus.APPROVED and not mfr.needs_review:
        return ""
    if mfr.status == MfrStatus.APPROVED:
        waits = (f"Refill {fill} waits for a pharmacist: its master formulation record {mfr.label} is flagged for review "
                 f"({mfr.review_reason or 'no reason given'}); it is made once the review is done.")
    else:
        waits = (f"Refill {fill} waits for a pharmacist: the master formulation record it was made from is no longer approved, "
                 f"so {mfr.label} is proposed; it is made once a pharmacist approves it.")
    event_record(order=preparation.order, preparation=preparation, kind="refill_requested", actor=by, message=waits)
    return waits


def mfr_blocks(job: Job) -> str:
    """Why a refill may not be made yet (its preparation's master formulation record is not approved, or is flagged for
    review), in words; "" when it may. A first fill is checked at verification (workflows.mfrs_check_approved)."""
    if not job.fill:
        return ""
    mfr = job.preparation.mfr
    if mfr is None or mfr.status != MfrStatus.APPROVED:
        named = mfr.label if mfr is not None else "its master formulation record"
        return (f"Refill {job.fill} ({job.number}) cannot be made yet: {named} is not approved. "
                "A pharmacist must approve it first (USP <795>: made only from an approved master formulation record).")
    if mfr.needs_review:
        return (f"Refill {job.fill} ({job.number}) cannot be made yet: {mfr.label} is flagged for review "
                f"({mfr.review_reason or 'no reason given'}). A pharmacist must review it first.")
    return ""


def _recheck(preparation: Preparation, *, today=None) -> None:
    """Each fill is checked again against today's formulary, lots and licences: an error found now stops it, and
    the prescriber has to answer (renew it, changed, or not)."""
    errors = preparation_recheck(preparation=preparation, today=today)
    if errors:
        found = "; ".join(f"{title(f.code)}: {f.message}" for f in errors)
        refused = RefillRefused(Refusal("REFILL_RECHECK_FAILED", f"Checked again today, this preparation has a problem only the "
                                                                  f"prescriber can resolve: {found} Ask the prescriber to renew it "
                                                                  "(changed if need be)."))
        refused.fields = {"findings": [{"code": f.code, "severity": f.severity, "message": f.message} for f in errors]}
        raise refused


def _refill_job_create(*, preparation: Preparation, fill: int, by) -> Job:
    """The refill's job, queued, through the job door (fulfillment.transitions.job_create): the preparation follows it and
    the order records the event."""
    return job_create(preparation=preparation, by=by, fill=fill)


def refill_release(*, job: Job, by) -> None:
    """The pharmacist released a refill's fill: one refill fewer remains (in the release's transaction)."""
    if not job.fill:
        return
    with transaction.atomic():
        counted = Preparation.objects.filter(pk=job.preparation_id, refills_remaining__gt=0).update(
            refills_remaining=F("refills_remaining") - 1)
        RefillRequest.objects.filter(preparation_id=job.preparation_id, fill=job.fill, status=RefillStatus.OPEN).update(
            status=RefillStatus.RELEASED, released_at=timezone.now())
        prep = Preparation.objects.select_related("order").get(pk=job.preparation_id)
        if counted:
            left = prep.refills_remaining
            event_record(order=prep.order, preparation=prep, kind="refill_released", actor=by,
                         message=f"refill {job.fill} released; {left} of {prep.refills} left")


def auto_refills_request(*, today=None) -> dict:
    """The beat's auto-refill: request each refill that is due, for preparations with an interval and automatic
    refills not paused. Due is the rules' earliest day (REFILL_TOO_SOON's share of the interval after the previous
    fill shipped), so the next fill arrives before the last runs out. Idempotent and safe to run twice at once:
    each request takes the preparation's row lock, and a second tick finds the refill just made (FILL_IN_PROGRESS),
    so there is exactly one refill per interval. Returns {"requested": n, "skipped": {code: n}}."""
    today = today or timezone.localdate()
    requested, skipped = 0, {}
    candidates = (Preparation.objects.filter(refill_interval_days__isnull=False, auto_refill_paused=False, refills_remaining__gt=0,
                                             order__status__in=("approved", "shipped", "delivered"))
                  .select_related("order").order_by("pk"))
    for prep in candidates:
        refusal = refill_refusal(refill_facts(prep, today=today))  # a cheap look first, without the lock
        if refusal is not None:
            skipped[refusal.code] = skipped.get(refusal.code, 0) + 1
            continue
        try:
            refill_request(preparation=prep, by=None, source=RefillSource.AUTO, today=today)
        except Conflict as refused:  # decided under the lock: another tick got there first, or the re-check stopped it
            skipped[refused.code] = skipped.get(refused.code, 0) + 1
            continue
        requested += 1
    return {"requested": requested, "skipped": skipped}
