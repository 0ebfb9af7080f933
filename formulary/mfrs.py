"""Master formulation records: the writes. Proposed at submission (or matched to the approved version of the same
formulation), a draft edited by a pharmacist, approved by a pharmacist only, retired, revised into a new version,
flagged for review when the formulary changes a material it uses.

Only `mfr_transition` changes a record's status: a compare-and-swap on the old status, one transaction. An approved
version is never edited: `mfr_update` refuses it (409) and `mfr_revise` starts the next version as a draft."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from formulary import mfr_content
from formulary.models import MasterFormulationRecord as MFR
from formulary.models import MfrStatus
from portal.errors import Forbidden, ServiceError
from portal.models import Role
from portal.numbers import moment_text

APPROVERS = frozenset({Role.PHARMACIST})
TRANSITIONS = {
    MfrStatus.DRAFT: {MfrStatus.APPROVED, MfrStatus.RETIRED},
    MfrStatus.APPROVED: {MfrStatus.RETIRED},
    MfrStatus.RETIRED: set(),
}
# What a pharmacist may change in a draft (the identity and the engine's facts are not typed by hand).
TEXT_MAX, STEP_MAX, STEPS_MAX = 4000, 1000, 60  # each typed field; each compounding step; steps in all
REVIEW_NOTE_MAX = 500  # what the pharmacist checked, when clearing a review flag
EDITABLE = ("container_closure", "equipment", "steps", "physical_description", "bud_source", "labelling", "notes")


class MfrNotApproved(ServiceError):
    status = 409
    code = "MFR_NOT_APPROVED"


def _pharmacist(by, what: str) -> None:
    if getattr(by, "role", None) not in APPROVERS:
        raise Forbidden(f"Only a pharmacist {what} a master formulation record.", code="pharmacist_only")


def mfr_transition(*, mfr: MFR, to: str, by, **fields) -> MFR:
    """The one door for an MFR's status: the table, then UPDATE … WHERE status = <old> that must hit one row."""
    if to not in TRANSITIONS.get(mfr.status, set()):
        raise ServiceError(f"{mfr.label} is {mfr.get_status_display().lower()}; it cannot become {MfrStatus(to).label.lower()}.",
                           code="illegal_transition", status=409)
    with transaction.atomic():
        changed = MFR.objects.filter(pk=mfr.pk, status=mfr.status).update(status=to, **fields)
        if changed != 1:
            raise ServiceError(f"{mfr.label} changed meanwhile; read it again.", code="illegal_transition", status=409)
    mfr.refresh_from_db()
    return mfr


def mfr_propose(*, identity: dict, checked: dict, rules_version: str, quantity, by=None, source: str = "",
                known: dict[str, MFR] | None = None) -> MFR:
    """The record a preparation follows: the approved version of its formulation, else the draft in the making,
    else a new draft built from the formulary and the engine's answer. Call it inside the caller's transaction.

    `known`: what `mfr_current_many` read for every preparation of an order at once (one query for them all); a
    formulation absent from it is new, and the draft made for it is added to it (the order's next preparation of the
    same formulation follows that draft)."""
    key = mfr_content.formulation_key(identity)
    found = _current(key) if known is None else known.get(key)
    if found is not None:
        return found
    found = _draft_new(key=key, identity=identity, checked=checked, rules_version=rules_version, quantity=quantity, by=by,
                       source=source)
    if known is not None:
        known[key] = found
    return found


def mfr_current_many(identities: list[dict]) -> dict[str, MFR]:
    """The current record (approved, else draft) of each formulation, by formulation key, in one query."""
    keys = {mfr_content.formulation_key(identity) for identity in identities}
    by_key: dict[str, dict[str, MFR]] = {}
    for m in MFR.objects.filter(formulation_key__in=keys, status__in=[MfrStatus.APPROVED, MfrStatus.DRAFT]):
        by_key.setdefault(m.formulation_key, {})[m.status] = m
    return {key: rows.get(MfrStatus.APPROVED) or rows.get(MfrStatus.DRAFT) for key, rows in by_key.items()}


def _draft_new(*, key: str, identity: dict, checked: dict, rules_version: str, quantity, by, source: str) -> MFR:
    content = mfr_content.mfr_content(identity=identity, checked=checked, rules_version=rules_version, quantity=quantity)
    last = MFR.objects.filter(formulation_key=key).aggregate(v=Max("version"))["v"] or 0
    try:
        with transaction.atomic():  # two submissions of a new formulation at once: the second takes the first's draft
            return MFR.objects.create(code=f"MFR-{key[:8].upper()}", formulation_key=key, identity=identity, version=last + 1,
                                      status=MfrStatus.DRAFT, created_by=by, proposed_from=source[:40], **content)
    except IntegrityError:
        found = _current(key)
        if found is None:
            raise
        return found


def _current(key: str) -> MFR | None:
    rows = {m.status: m for m in MFR.objects.filter(formulation_key=key, status__in=[MfrStatus.APPROVED, MfrStatus.DRAFT])}
    return rows.get(MfrStatus.APPROVED) or rows.get(MfrStatus.DRAFT)


def mfr_update(*, mfr: MFR, by, data: dict) -> MFR:
    """A pharmacist completes or corrects a draft. An approved or retired version is never edited (409)."""
    _pharmacist(by, "edits")
    if mfr.status != MfrStatus.DRAFT:
        raise ServiceError(f"{mfr.label} is {mfr.get_status_display().lower()}: it is never edited. Start a new version to change it.",
                           code="mfr_locked", status=409)
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ServiceError("Only the container, equipment, steps, physical description, beyond-use source, labelling and notes "
                           "are typed by hand.", fields={name: ["Not editable."] for name in unknown})
    changes = {}
    errors = {}
    for name, value in data.items():
        if name == "steps":
            lines = value.splitlines() if isinstance(value, str) else value
            if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
                errors[name] = ["The steps are lines of text."]
                continue
            steps = [line.strip() for line in lines if line.strip()]
            long_steps = [(n, len(line)) for n, line in enumerate(steps, 1) if len(line) > STEP_MAX]
            if len(steps) > STEPS_MAX:
                errors[name] = [f"At most {STEPS_MAX} steps (this has {len(steps)})."]
            elif long_steps:
                errors[name] = [" ".join(f"Step {n}: at most {STEP_MAX} characters (this has {length})." for n, length in long_steps[:3])]
            else:
                changes[name] = steps
        elif not isinstance(value, str):
            errors[name] = ["Text, please."]
        elif len(value.strip()) > TEXT_MAX:  # never cut what the pharmacist wrote: refuse it, nothing saved
            errors[name] = [f"At most {TEXT_MAX} characters (this has {len(value.strip())})."]
        else:
            changes[name] = value.strip()
    if errors:
        raise ServiceError("The record was not changed: see the marked fields.", fields=errors)
    with transaction.atomic():
        if MFR.objects.filter(pk=mfr.pk, status=MfrStatus.DRAFT).update(**changes) != 1:
            raise ServiceError(f"{mfr.label} was approved or retired meanwhile: it is never edited.", code="mfr_locked", status=409)
    mfr.refresh_from_db()
    return mfr


def mfr_approve(*, mfr: MFR, by) -> MFR:
    """A pharmacist approves a complete draft (name and time recorded); the version approved before it retires."""
    _pharmacist(by, "approves")
    if mfr.status != MfrStatus.DRAFT:
        raise ServiceError(f"{mfr.label} is {mfr.get_status_display().lower()}: only a draft is approved.", code="illegal_transition",
                           status=409)
    missing = mfr_content.missing_fields(mfr)
    if missing:
        raise ServiceError(f"{mfr.label} cannot be approved: it lacks {'; '.join(missing.values())}.", code="mfr_incomplete",
                           status=422, fields={field: [f"Missing: {words}."] for field, words in missing.items()})
    now = timezone.now()
    with transaction.atomic():
        before = MFR.objects.select_for_update().filter(formulation_key=mfr.formulation_key, status=MfrStatus.APPROVED).first()
        if before is not None:
            mfr_transition(mfr=before, to=MfrStatus.RETIRED, by=by, retired_by=by, retired_at=now)
        mfr = mfr_transition(mfr=mfr, to=MfrStatus.APPROVED, by=by, approved_by=by, approved_at=now, needs_review=False)
    return mfr


def mfr_retire(*, mfr: MFR, by) -> MFR:
    _pharmacist(by, "retires")
    return mfr_transition(mfr=mfr, to=MfrStatus.RETIRED, by=by, retired_by=by, retired_at=timezone.now())


def mfr_revise(*, mfr: MFR, by) -> MFR:
    """The next version of a formulation, as a draft copied from this one (the approved one stays in use until the
    new one is approved). Refused while a draft of the formulation exists."""
    _pharmacist(by, "revises")
    draft = MFR.objects.filter(formulation_key=mfr.formulation_key, status=MfrStatus.DRAFT).first()
    if draft is not None:
        raise ServiceError(f"{draft.label} is already the draft of this formulation: edit it.", code="mfr_draft_exists", status=409)
    copied = {f.name: getattr(mfr, f.name) for f in MFR._meta.concrete_fields
              if f.name not in ("id", "public_id", "version", "status", "needs_review", "review_reason", "created_by", "created_at",
                                "approved_by", "approved_at", "retired_by", "retired_at", "proposed_from", "notes")}
    last = MFR.objects.filter(formulation_key=mfr.formulation_key).aggregate(v=Max("version"))["v"] or 0
    try:
        with transaction.atomic():
            return MFR.objects.create(**copied, version=last + 1, status=MfrStatus.DRAFT, created_by=by,
                                      notes=(mfr.notes + "\n" if mfr.notes else "") + f"Revised from v{mfr.version}.")
    except IntegrityError:
        raise ServiceError("Another draft of this formulation was started meanwhile.", code="mfr_draft_exists", status=409) from None


def mfrs_flag_for_review(*, item_codes: list[str], reason: str) -> int:
    """A formulary edit to these materials or bases: every draft or approved record that uses one is flagged."""
    query = Q()
    for code in item_codes:
        query |= Q(ingredient_codes__contains=f" {code} ")
    if not item_codes:
        return 0
    return MFR.objects.filter(query, status__in=[MfrStatus.DRAFT, MfrStatus.APPROVED]).update(needs_review=True, review_reason=reason[:2000])


def mfr_review_clear(*, mfr: MFR, by, note: str = "") -> MFR:
    """The pharmacist reviewed a flagged record and it stands as it is (otherwise: a new version)."""
    _pharmacist(by, "reviews")
    note = (note or "").strip()
    if len(note) > REVIEW_NOTE_MAX:  # never cut what the pharmacist wrote: refuse it, nothing changed
        raise ServiceError(f"The review was not recorded: what you checked is at most {REVIEW_NOTE_MAX} characters (this has {len(note)}).",
                           fields={"note": [f"At most {REVIEW_NOTE_MAX} characters (this has {len(note)})."]})
    said = f"Reviewed {moment_text(timezone.now())} by {by.get_full_name() or by.username}: {note or 'no change needed'}."
    with transaction.atomic():  # only a flagged record is cleared, once: a second post adds no second review
        mfr = MFR.objects.select_for_update().filter(pk=mfr.pk).first()
        if mfr is None or not mfr.needs_review:
            raise ServiceError("This record is not flagged for review (a pharmacist may have just cleared it).", code="not_flagged", status=409)
        MFR.objects.filter(pk=mfr.pk).update(needs_review=False, review_reason="", notes=(mfr.notes + "\n" if mfr.notes else "") + said)
    mfr.refresh_from_db()
    return mfr
