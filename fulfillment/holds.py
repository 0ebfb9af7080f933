"""A pharmacist puts a job on hold with a reason, and resumes it to where it stood: both through the job's
door (fulfillment.transitions), so the preparation, the order's history and the webhooks follow.

The reason is written for people: the prescriber and the patient read it as "On hold: <reason>"."""

from __future__ import annotations

from fulfillment.models import Job, JobStatus
from fulfillment.transitions import job_transition
from portal.errors import ServiceError

HOLDABLE = frozenset({JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.REWORK})
REASON_MAX = 500


def job_hold(*, job: Job, by, reason: str) -> Job:
    """Hold `job` with `reason` (required, plain words; the prescriber and the patient read it)."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ServiceError("Say why the job is on hold: the prescriber and the patient read it.",
                           fields={"reason": ["This field is required."]})
    if len(reason) > REASON_MAX:
        raise ServiceError(f"Keep the reason under {REASON_MAX} characters.", fields={"reason": [f"At most {REASON_MAX} characters."]})
    # The door refuses a job that cannot be held (shipped, cancelled, already on hold) and anyone but a pharmacist.
    return job_transition(job=job, to=JobStatus.ON_HOLD, by=by, message=reason, hold_reason=reason, held_from=job.status)


def job_resume(*, job: Job, by) -> Job:
    """Take `job` off hold, back to the status it was held from."""
    if job.status != JobStatus.ON_HOLD:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}, not on hold.", code="illegal_transition", status=409)
    back_to = job.held_from if job.held_from in HOLDABLE else JobStatus.QUEUED
    return job_transition(job=job, to=back_to, by=by, message="resumed", hold_reason="", held_from="")
