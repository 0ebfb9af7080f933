"""The one door for a job's status: table, roles, conditional update, the preparation's status and
an order event, all in one transaction. An illegal move answers 409 and is recorded."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from fulfillment.models import Job, JobStatus
from orders.models import OrderStatus, Preparation
from orders.transitions import IllegalTransition, event_record, order_transition
from portal.models import Role

log = logging.getLogger(__name__)
J = JobStatus
STAFF = frozenset({Role.PHARMACIST, Role.TECHNICIAN, Role.PHARMACY_ADMIN})
PHARMACIST = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
SYSTEM = frozenset({"system"})  # the carrier poll, the claim-expiry sweep

TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (J.QUEUED, J.COMPOUNDING): STAFF,  # claimed
    (J.REWORK, J.COMPOUNDING): STAFF,
    (J.COMPOUNDING, J.QUEUED): STAFF | SYSTEM,  # released, or the claim expired
    (J.COMPOUNDING, J.QC): STAFF,  # compounding record entered
    (J.QC, J.REWORK): STAFF,  # QC failed
    (J.QC, J.READY): PHARMACIST,  # final verification
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
    (J.ON_HOLD, J.CANCELLED): PHARMACIST,
}


def _role(by) -> str:
    return "system" if by is None else by.role


def job_transition(*, job: Job, to: str, by, message: str = "", **fields) -> Job:
    frm = job.status
    roles = TRANSITIONS.get((frm, to))
    if roles is None or _role(by) not in roles:
        who = "the system" if by is None else by.username
        log.warning("refused job transition %s: %s -> %s by %s", job.number, frm, to, who)
        with transaction.atomic():
            event_record(order=job.preparation.order, preparation=job.preparation, kind="transition_refused", actor=by,
                         from_status=frm, to_status=to, message=f"{job.number}: {frm} → {to} refused")
        if roles is None:
            raise IllegalTransition(f"Job {job.number} is {J(frm).label.lower()}; it cannot become {J(to).label.lower()}.")
        raise IllegalTransition(f"A {by.get_role_display().lower()} cannot move a job from {J(frm).label.lower()} to {J(to).label.lower()}.")
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status=frm, version=job.version).update(status=to, version=F("version") + 1, **fields)
        if updated != 1:
            job.refresh_from_db()
            raise IllegalTransition(f"Job {job.number} was changed by someone else (it is now {job.get_status_display().lower()}).")
        Preparation.objects.filter(pk=job.preparation_id).update(status=to)
        event_record(order=job.preparation.order, preparation=job.preparation, kind="job_status", actor=by, from_status=frm,
                     to_status=to, message=message or job.number)
        if to in ROLL_UP_ON:
            order_roll_up(order=job.preparation.order, by=by)
    job.refresh_from_db()
    return job


ROLL_UP_ON = frozenset({J.SHIPPED, J.DELIVERED, J.CANCELLED})
ORDER_OPEN = frozenset({OrderStatus.APPROVED, OrderStatus.SHIPPED})


def order_roll_up(*, order, by) -> None:
    """The order follows its jobs, through the order's own door, in the job's transaction: shipped once every
    open (not cancelled) job has shipped, delivered once every one has been delivered. Partly shipped is
    shown from the preparations (Order.status_text) and is not a status."""
    # event_record has just updated the order's row in this transaction, so the row is locked: two jobs of one
    # order shipping at once are rolled up one after the other, and the second sees the first.
    # Each preparation counts by its latest fill (a refill is a later job of the same preparation).
    latest: dict[int, str] = {}
    for prep_id, status in (Job.objects.filter(preparation__order_id=order.pk).exclude(status=J.CANCELLED).order_by("fill")
                            .values_list("preparation_id", "status")):
        latest[prep_id] = status
    statuses = set(latest.values())
    order.refresh_from_db()
    if not statuses or order.status not in ORDER_OPEN:
        return
    if statuses == {J.DELIVERED}:
        target = OrderStatus.DELIVERED
    elif statuses <= {J.SHIPPED, J.DELIVERED}:
        target = OrderStatus.SHIPPED
    else:
        return
    if target != order.status:
        order_transition(order=order, to=target, by=by, kind="status_changed",
                         message="every preparation has shipped" if target == OrderStatus.SHIPPED else "every parcel has arrived")
