"""The one door for a job's status: a job is made here (job_create) and moved here (job_transition):
table, roles, conditional update, the preparation's status and an order event, all in one
transaction. An illegal move answers 409 and is recorded once the refused change has rolled back,
exactly as the order door does (orders.transitions.refusal_record)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from fulfillment.models import Job, JobStatus
from orders.models import OrderEventKind, Preparation, PreparationStatus
from orders.transitions import IllegalTransition, event_record, refusal_record
from portal.models import Role

J = JobStatus
STAFF = frozenset({Role.PHARMACIST, Role.TECHNICIAN, Role.PHARMACY_ADMIN})
PHARMACIST = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
SYSTEM = frozenset({"system"})  # the carrier poll, the claim-expiry sweep, an order's cancel reaching its jobs

TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (J.QUEUED, J.COMPOUNDING): STAFF,  # claimed
    (J.REWORK, J.COMPOUNDING): STAFF,
    (J.COMPOUNDING, J.QUEUED): STAFF | SYSTEM,  # the claim given back, or expired
    (J.COMPOUNDING, J.QC): STAFF,  # compounding record entered
    (J.QC, J.REWORK): STAFF,  # QC failed
    (J.QC, J.READY): PHARMACIST,  # the pharmacist's final verification
    (J.READY, J.SHIPPED): STAFF,
    (J.SHIPPED, J.DELIVERED): STAFF | SYSTEM,
    (J.QUEUED, J.ON_HOLD): PHARMACIST,
    (J.COMPOUNDING, J.ON_HOLD): PHARMACIST,
    (J.QC, J.ON_HOLD): PHARMACIST,
    (J.REWORK, J.ON_HOLD): PHARMACIST,
    (J.ON_HOLD, J.QUEUED): PHARMACIST,  # resumed: back to where it was held (fulfillment.holds)
    (J.ON_HOLD, J.COMPOUNDING): PHARMACIST,
    (J.ON_HOLD, J.QC): PHARMACIST,
    (J.ON_HOLD, J.REWORK): PHARMACIST,
    (J.QUEUED, J.CANCELLED): STAFF | SYSTEM,
    (J.ON_HOLD, J.CANCELLED): PHARMACIST | SYSTEM,  # system: the order was cancelled
}


def _role(by) -> str:
    return "system" if by is None else by.role


def job_create(*, preparation: Preparation, by, fill: int = 0, priority: int = 0) -> Job:
    """A new job for a preparation, queued: the original fill when its order is approved (from pending), or a refill
    (fill n, issue 18: from wherever the preparation's last fill stands). The preparation follows, and the order
    records (and announces) the step to queued."""
    order = preparation.order
    frm = PreparationStatus.PENDING if fill == 0 else preparation.status
    number = f"{order.number}-{preparation.position}" + (f"-R{fill}" if fill else "")
    with transaction.atomic():
        job = Job.objects.create(number=number, preparation=preparation, fill=fill, priority=priority)
        Preparation.objects.filter(pk=preparation.pk).update(status=PreparationStatus.QUEUED)
        event_record(order=order, preparation=preparation, kind=OrderEventKind.JOB_STATUS, actor=by, from_status=frm,
                     to_status=job.status, message=f"{job.number} queued" + (f" (refill {fill})" if fill else ""))
    preparation.status = PreparationStatus.QUEUED
    return job


def job_transition(*, job: Job, to: str, by, message: str = "", **fields) -> Job:
    frm = job.status
    roles = TRANSITIONS.get((frm, to))
    if roles is None or _role(by) not in roles:
        if roles is None and frm == to:
            refused = IllegalTransition(f"Job {job.number} is already {J(frm).label.lower()}.")
        elif roles is None:
            refused = IllegalTransition(f"Job {job.number} is {J(frm).label.lower()}; it cannot become {J(to).label.lower()}.")
        else:
            who = "The system" if by is None else f"A {by.get_role_display().lower()}"
            refused = IllegalTransition(f"{who} cannot move a job from {J(frm).label.lower()} to {J(to).label.lower()}.")
        raise refusal_record(refused, order=job.preparation.order, preparation=job.preparation, frm=frm, to=to, by=by,
                             message=job.number)
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status=frm, version=job.version).update(status=to, version=F("version") + 1, **fields)
        if updated != 1:
            job.refresh_from_db()
            raise IllegalTransition(f"Job {job.number} was changed by someone else (it is now {job.get_status_display().lower()}).")
        Preparation.objects.filter(pk=job.preparation_id).update(status=to)
        event_record(order=job.preparation.order, preparation=job.preparation, kind=OrderEventKind.JOB_STATUS, actor=by, from_status=frm,
                     to_status=to, message=message or job.number)
    job.refresh_from_db()
    return job

