"""The compounding record of a job (USP <795> 7.3), one per batch made (each fill its own; a batch that failed QC keeps
its record and the rework's batch gets the next attempt's): what the record
holds as data (`record_data`), what it still lacks before release (`record_missing`), deviations with their reasons,
and the frozen copy made at the pharmacist's release: the data kept in `frozen` and its PDF rendered by the worker,
whose SHA-256 is stored. A released record never changes: every change answers 409.

The MFR followed is the approved version of the preparation's formulation when the record is entered (a refill made
after a new version was approved follows the new one); its code and version are kept on the record."""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from fulfillment import documents
from fulfillment.models import CompoundingRecord, Job
from fulfillment.rendering import stored_pdf
from portal.errors import ServiceError
from portal.numbers import moment_text, percent_text

log = logging.getLogger(__name__)
DEVIATION_WHAT_MAX, DEVIATION_REASON_MAX = 1000, 2000  # as the API's serializer and the page's form allow


def _who(user) -> str:
    return "" if user is None else (user.get_full_name() or user.username)


_when = moment_text  # 'Dec 1, 2026 10:38 EST'


def mfr_for_record(job: Job):
    """The approved master formulation record this job is made from, or None."""
    return documents.mfr_followed(job.preparation)


def calculations_done(job: Job, batch: dict, plan: list[dict]) -> dict:
    """The arithmetic of this batch as the worksheet and the record did it."""
    prep = job.preparation
    mfr = prep.mfr
    return {
        "dispensed": f"{prep.quantity.normalize():f} {prep.unit}",
        "overage_percent": (mfr.calculations.get("overage_percent") if mfr else "") or "",
        "batch": f"{batch['quantity']} {batch.get('unit', 'g')}" + (f" ({batch['volume']} mL at {batch['density']} g/mL)" if batch.get("volume") else ""),
        "minimum_weighable_g": f"{batch.get('minimum_weighable_g')}",
        "lines": [{"what": row["what"], "share_percent": row.get("share_percent"), "planned_g": row["planned_text"]} for row in plan],
        "aliquots": [line["aliquot"] for line in batch["lines"] if line.get("aliquot")],
    }


def deviation_add(*, job: Job, by, what: str, reason: str) -> CompoundingRecord:
    """A deviation from the MFR or the worksheet, with its reason (who and when kept). Refused once released (409)."""
    record = getattr(job, "record", None)
    if record is None:
        raise ServiceError(f"Job {job.number} has no compounding record yet: enter it first.", code="illegal_transition", status=409)
    _refuse_if_frozen(record)
    what, reason = (what or "").strip(), (reason or "").strip()
    errors = {}
    if not what:
        errors["what"] = ["Say what deviated from the master formulation record or the worksheet."]
    if not reason:
        errors["reason"] = ["Give the reason."]
    for name, value, most in (("what", what, DEVIATION_WHAT_MAX), ("reason", reason, DEVIATION_REASON_MAX)):
        if len(value) > most:  # never cut what a person wrote on the record: refuse it, nothing saved
            errors[name] = [f"At most {most} characters (this has {len(value)})."]
    if errors:
        raise ServiceError("The deviation was not recorded: see the marked fields.", fields=errors)
    entry = {"what": what, "reason": reason, "by": _who(by), "at": _when(timezone.now())}
    with transaction.atomic():
        record = CompoundingRecord.objects.select_for_update().get(pk=record.pk)
        _refuse_if_frozen(record)
        record.deviations = [*record.deviations, entry]
        record.save(update_fields=["deviations"])
    return record


def _refuse_if_frozen(record: CompoundingRecord) -> None:
    if record.job_id is None:
        raise ServiceError(f"Attempt {record.attempt} of {record.attempt_of.number} failed QC and is kept as it was: it never changes.",
                           code="record_frozen", status=409)
    if record.frozen is not None:
        raise ServiceError(f"The compounding record of {record.job.number} was released and frozen on {_when(record.frozen_at)}: "
                           "it never changes.", code="record_frozen", status=409)


def record_change_refused(job: Job) -> None:
    """Any attempt to change a record: 409 once frozen, else it is changed only by its own steps."""
    record = getattr(job, "record", None)
    if record is not None:
        _refuse_if_frozen(record)
    raise ServiceError("A compounding record is changed only by its steps: the weighings, QC and deviations.",
                       code="method_not_allowed", status=405)


def record_missing(job: Job) -> list[str]:
    """What the record lacks before the pharmacist may release it, in words (empty when complete)."""
    record = getattr(job, "record", None)
    if record is None:
        return ["the compounding record (lots, weights and yield)"]
    missing = []
    if record.mfr_id is None:
        current = mfr_for_record(job)
        if current is None:
            missing.append("an approved master formulation record for this formulation")
        elif not record.deviations:  # made before its record was approved: it is linked at release, with the reason on file
            missing.append(f"a deviation saying why it was compounded before {current.label} was approved")
    for line in record.lines.all():
        name = line.item_name or line.item_code
        if not line.lot_number or line.lot_expires_on is None:
            missing.append(f"the lot and expiry of {name}")
        if not (line.manufacturer or line.supplier):
            missing.append(f"the manufacturer or vendor of {name} (lot {line.lot_number})")
        if line.weighed_by_id is None or line.weighed_at is None:
            missing.append(f"who weighed {name}, and when")
    if record.yield_flagged and not record.deviations:
        missing.append(f"the reason for the yield of {percent_text(record.yield_percent)} (outside 95–105 %): record it as a deviation")
    qc = job.qc_results.order_by("-recorded_at", "-pk").first()
    if qc is None or not qc.passed:
        missing.append("a passed quality check")
    elif not qc.description.strip():
        missing.append("the physical description observed")
    label = documents.label_context(job)
    for words in documents.label_missing(label):
        missing.append(words)
    return missing


def current_or_latest(job: Job) -> CompoundingRecord | None:
    """The record the page and the API show: the job's current attempt, else (in rework, before the next batch is
    recorded) its latest attempt, which failed QC. None before anything was recorded."""
    record = getattr(job, "record", None)
    if record is not None:
        return record
    return CompoundingRecord.objects.filter(attempt_of=job).order_by("-attempt").first()


def earlier_attempts(record: CompoundingRecord) -> list[dict]:
    """The job's attempts before this one, each as it was kept: who made it, when, its yield and why it failed QC."""
    rows = []
    for earlier in (CompoundingRecord.objects.filter(attempt_of_id=record.attempt_of_id, attempt__lt=record.attempt)
                    .select_related("recorded_by").prefetch_related("qc_results").order_by("attempt")):
        failed = [q for q in sorted(earlier.qc_results.all(), key=lambda q: (q.recorded_at, q.pk)) if not q.passed]
        rows.append({"attempt": earlier.attempt, "recorded_by": _who(earlier.recorded_by), "recorded_at": _when(earlier.recorded_at),
                     "yield_percent": f"{earlier.yield_percent}",
                     "lots": [f"{line.item_name or line.item_code} lot {line.lot_number}" for line in earlier.lines.all()],
                     "qc_failed": " ".join(" ".join(q.problems) for q in failed),
                     "qc_failed_at": _when(failed[-1].recorded_at) if failed else "",
                     "outcome": ("QC failed: " + " ".join(" ".join(q.problems) for q in failed)) if failed else "Not released"})
    return rows


def record_data(job: Job, record: CompoundingRecord | None = None, *, released_by=None, released_at=None) -> dict:
    """Every field of the compounding record, with the values actually recorded (the frozen copy is this, at release).
    `record` is one attempt of the job (its current one unless given); the attempts before it are listed."""
    record = record or job.record
    prep = job.preparation
    order = prep.order
    mfr = record.mfr
    label = documents.label_context(job, record)
    qc_all = list(record.qc_results.select_related("recorded_by").order_by("recorded_at", "pk"))
    expected = {t["test"]: t["expected"] for t in (mfr.qc if mfr else [])}
    passed = next((q for q in reversed(qc_all) if q.passed), None)
    steps = []
    if job.claimed_at and record.job_id is not None:
        steps.append({"step": "Claimed; worksheet printed", "by": _who(job.claimed_by), "at": _when(job.claimed_at)})
    for line in record.lines.all():
        steps.append({"step": f"Weighed: {line.description or line.item_name}", "by": _who(line.weighed_by), "at": _when(line.weighed_at)})
    steps.append({"step": f"Yield weighed: {record.actual_yield_grams.normalize():f} g", "by": _who(record.recorded_by),
                  "at": _when(record.recorded_at)})
    for q in qc_all:
        steps.append({"step": "Quality check " + ("passed" if q.passed else "failed: " + " ".join(q.problems)), "by": _who(q.recorded_by),
                      "at": _when(q.recorded_at)})
    for d in record.deviations:
        steps.append({"step": f"Deviation recorded: {d['what']}", "by": d["by"], "at": d["at"]})
    if released_by is not None:
        steps.append({"step": "Completeness review and release by the pharmacist", "by": _who(released_by), "at": _when(released_at)})
    qc_rows = []
    if passed is not None:
        if passed.measured_ph is not None:
            qc_rows.append({"test": "pH", "expected": expected.get("pH", ""), "result": f"{passed.measured_ph.normalize():f}"})
        qc_rows.append({"test": "Appearance", "expected": expected.get("Appearance", ""),
                        "result": "as specified" if passed.appearance_ok else "not as specified"})
        qc_rows.append({"test": "Fill weight", "expected": expected.get("Fill weight", ""),
                        "result": f"{passed.fill_weight.normalize():f} {documents.qc_spec(job)['unit']}"})
    qc_rows.append({"test": "Yield", "expected": expected.get("Yield", "95–105 % of the theoretical batch weight"),
                    "result": f"{percent_text(record.yield_percent)} ({record.actual_yield_grams.normalize():f} g of {record.theoretical_grams.normalize():f} g)"})
    dating = label["dating"]
    return {
        "job": job.number, "attempt": record.attempt, "earlier_attempts": earlier_attempts(record), "fill": job.fill, "fill_text": documents.fill_text(job), "order": order.number,
        "preparation": label["preparation"], "quantity": label["quantity"], "patient": label["patient_name"],
        "prescriber": label["prescriber"],
        "mfr": {"id": str(mfr.public_id), "code": record.mfr_code, "version": record.mfr_version,
                "approved_by": _who(mfr.approved_by), "approved_at": _when(mfr.approved_at)} if mfr else None,
        "compounded_on": label["compounded_on"].isoformat(),
        "components": [
            {"position": line.position, "name": line.item_name or line.item_code, "code": line.item_code, "step": line.get_step_display(),
             "what": line.description, "manufacturer": line.manufacturer, "vendor": line.supplier, "lot": line.lot_number,
             "expires_on": line.lot_expires_on.isoformat(), "planned_g": f"{line.planned_grams.normalize():f}",
             "actual_g": f"{line.actual_grams.normalize():f}", "weighed_by": _who(line.weighed_by), "weighed_at": _when(line.weighed_at)}
            for line in record.lines.select_related("weighed_by").all()
        ],
        "yield": {"theoretical_g": f"{record.theoretical_grams.normalize():f}", "actual_g": f"{record.actual_yield_grams.normalize():f}",
                  "percent": f"{record.yield_percent}", "flagged": record.yield_flagged},
        "calculations": record.calculations,
        "qc": qc_rows,
        "qc_attempts": [{"passed": q.passed, "problems": q.problems, "by": _who(q.recorded_by), "at": _when(q.recorded_at)} for q in qc_all],
        "physical_description": passed.description if passed else "",
        "beyond_use_date": dating["date"].isoformat() if dating.get("date") else "",
        "beyond_use_basis": (f"assigned {dating['assigned_days']} days per {dating['citation']}" if dating.get("assigned")
                             else f"{dating['table_days']} days, USP <795> table" + ("; limited by a component's expiry" if dating.get("limited_by_lot") else "")),
        "storage": label["storage_line"],
        "deviations": record.deviations,
        "steps": steps,
        "recorded_by": _who(record.recorded_by), "recorded_at": _when(record.recorded_at),
        "reviewed_by": _who(released_by or record.reviewed_by), "reviewed_at": _when(released_at or record.reviewed_at),
    }


def record_json(job: Job, record: CompoundingRecord) -> dict:
    """The API's answer: the frozen record once released (with its hash), else the record so far and what it lacks."""
    if record.job_id is None:  # an attempt that failed QC: kept as it was, never changed
        return {"status": "failed_qc", "current": False, **record_data(job, record)}
    if record.frozen is not None:
        return {"status": "released", "frozen_at": record.frozen_at.isoformat(), "pdf_sha256": record.pdf_sha256 or None,
                "pdf_ready": bool(record.pdf_sha256), **record.frozen}
    return {"status": "open", "missing": record_missing(job), **record_data(job)}


def record_freeze_fields(job: Job, *, by, at) -> dict:
    """The fields job_verify writes with the release, in its transaction: the review, and the record as released (a record
    entered before its formulation's MFR was approved is linked to the approved version now, its deviation on file)."""
    record = job.record
    linked = {}
    if record.mfr_id is None:
        mfr = mfr_for_record(job)
        if mfr is not None:
            record.mfr, record.mfr_code, record.mfr_version = mfr, mfr.code, mfr.version
            linked = {"mfr": mfr, "mfr_code": mfr.code, "mfr_version": mfr.version}
    return {**linked,"reviewed_by": by, "reviewed_at": at, "frozen_at": at, "frozen": record_data(job, released_by=by, released_at=at)}


def record_pdf_render(*, record_id: int) -> CompoundingRecord | None:
    """Render a frozen record's PDF once and store its SHA-256 (idempotent: a second delivery finds it done)."""
    record = CompoundingRecord.objects.select_related("attempt_of").filter(pk=record_id).first()
    if record is None or record.frozen is None or record.pdf_sha256:
        return record
    pdf, _refused = documents.render_pdf(render_to_string("fulfillment/record_pdf.html", {"r": record.frozen}))
    digest = hashlib.sha256(pdf).hexdigest()
    name = f"record-{record.attempt_of.number}-{digest[:12]}.pdf"
    record.pdf.save(name, ContentFile(pdf), save=False)
    # Only the first render is kept: the stored hash is never replaced.
    done = CompoundingRecord.objects.filter(pk=record_id, pdf_sha256="").update(pdf=record.pdf.name, pdf_sha256=digest,
                                                                                pdf_rendered_at=timezone.now())
    if done != 1:
        record.pdf.storage.delete(name)
    record.refresh_from_db()
    return record


def records_to_render() -> list[int]:
    """Frozen records still without their PDF (a lost message, a worker that died): the beat sends them again."""
    return list(CompoundingRecord.objects.filter(frozen__isnull=False, pdf_sha256="").values_list("pk", flat=True)[:200])


def record_pdf_bytes(record: CompoundingRecord) -> bytes:
    """The stored PDF, checked against its stored hash (a file changed on disk is refused, never served)."""
    pdf = stored_pdf(record.pdf, f"the compounding record of {record.attempt_of.number}")
    if hashlib.sha256(pdf).hexdigest() != record.pdf_sha256:
        log.error("compounding record %s: stored PDF does not match its hash", record.attempt_of.number)
        raise ServiceError("The stored PDF of this record does not match its hash; the pharmacy has been told.", code="record_corrupt",
                           status=500)
    return pdf
