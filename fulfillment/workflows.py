"""Workflows that move an order and its jobs together, calling both doors (orders.transitions for the
order, fulfillment.transitions for its jobs), each in one transaction:

- approve: the order is approved and each preparation becomes a queued job;
- reject, and ask the prescriber to clarify: the order only, but the pharmacist's verification;
- an order's cancel (announced by the order door, orders.events) cancels each of its open jobs
  through the job door: each with its event, version bump and webhook;
- a job that ships, is delivered or is cancelled (announced the same way) rolls its order up through
  the order door: shipped once every open job has shipped, delivered once every one has arrived.

Both reactions run inside the announcing door's transaction: they commit or roll back with it.
"""

from __future__ import annotations

from django.db import transaction

from formulary.mfrs import MfrNotApproved
from formulary.models import MfrStatus
from fulfillment.models import Job, JobStatus
from fulfillment.promise import RUSH_PRIORITY
from fulfillment.transitions import job_create, job_transition
from orders import services as order_services
from orders.models import Order, OrderEventKind, OrderStatus, RushStatus
from orders.rules.titles import title as rule_title
from orders.transitions import order_transition
from portal.errors import ServiceError

OPEN = (JobStatus.QUEUED, JobStatus.ON_HOLD)  # the jobs an order's cancel may still stop (the order door refuses once one has started)


def order_approve(*, order: Order, by, acknowledged_warnings: list[str]) -> Order:
    """Approve after acknowledging every warning by its code; each preparation becomes a job."""
    warnings = sorted({f["code"] for p in order.preparations.all() for f in p.checked.get("findings", []) if f["severity"] == "warning"})
    missing = [code for code in warnings if code not in set(acknowledged_warnings or [])]
    if missing:
        named = "; ".join(f"{rule_title(code)} ({code})" for code in missing)
        raise ServiceError(f"Acknowledge every warning before approving: {named}.", code="warnings_not_acknowledged",
                           fields={"acknowledged_warnings": ["Tick each warning to acknowledge it."]})
    mfrs_check_approved(order)
    with transaction.atomic():
        order = order_transition(order=order, to=OrderStatus.APPROVED, by=by, kind=OrderEventKind.APPROVED,
                                 message=f"Warnings acknowledged: {'; '.join(rule_title(code) for code in warnings)}" if warnings else "")
        priority = RUSH_PRIORITY if order.rush == RushStatus.ACCEPTED else 0
        for prep in order.preparations.all():
            job_create(preparation=prep, by=by, priority=priority)
    return order


def mfrs_check_approved(order: Order) -> None:
    """USP <795> 7.2: a preparation is made only from an approved master formulation record. 409 MFR_NOT_APPROVED naming
    each preparation whose record is a draft (or retired, or missing), nothing changed."""
    problems = []
    for prep in order.preparations.select_related("mfr"):
        if prep.mfr is None:
            problems.append(f"preparation {prep.position} has no master formulation record yet")
        elif prep.mfr.status != MfrStatus.APPROVED:
            problems.append(f"preparation {prep.position} follows {prep.mfr.label}, which is {prep.mfr.get_status_display().lower()}")
    if problems:
        raise MfrNotApproved(f"Approve the master formulation records first: {'; '.join(problems)}.",
                             fields={"mfr": [problem[0].upper() + problem[1:] + "." for problem in problems]})


def order_reject(*, order: Order, by, reason: str) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Give the prescriber a reason.", fields={"reason": ["This field is required."]})
    return order_transition(order=order, to=OrderStatus.REJECTED, by=by, message=reason[:2000], kind=OrderEventKind.REJECTED)


def order_clarify(*, order: Order, by, question: str) -> Order:
    """Ask the prescriber a question; the order waits for the answer (orders keeps the question's rules)."""
    return order_services.order_request_clarification(order=order, by=by, question=question)


def on_order_event(sender, event, **kwargs) -> None:
    """Receiver of orders.events.order_event_recorded, in the announcing door's transaction."""
    if event.kind == OrderEventKind.CANCELLED:
        jobs_cancel(order=event.order)
    elif event.kind == OrderEventKind.JOB_STATUS and event.to_status in ROLL_UP_ON:
        order_roll_up(order=event.order, by=event.actor)


def jobs_cancel(*, order: Order) -> None:
    """An order cancelled cancels its open jobs, one by one through the job door, in the order's
    transaction (a job that moved meanwhile refuses, and so does the cancel)."""
    for job in Job.objects.filter(preparation__order=order, status__in=OPEN).select_related("preparation__order").order_by("pk"):
        job_transition(job=job, to=JobStatus.CANCELLED, by=None, message=f"{job.number}: cancelled with order {order.number}")


ROLL_UP_ON = frozenset({JobStatus.SHIPPED, JobStatus.DELIVERED, JobStatus.CANCELLED})
ORDER_OPEN = frozenset({OrderStatus.APPROVED, OrderStatus.SHIPPED})


def order_roll_up(*, order: Order, by) -> None:
    """The order follows its jobs, through the order's own door, in the job's transaction: shipped once every
    open (not cancelled) job has shipped, delivered once every one has been delivered. Partly shipped is
    shown from the preparations (Order.status_text) and is not a status."""
    # event_record has just updated the order's row in this transaction, so the row is locked: two jobs of one
    # order shipping at once are rolled up one after the other, and the second sees the first.
    # Each preparation counts by its latest fill (a refill is a later job of the same preparation).
    latest: dict[int, str] = {}
    for prep_id, status in (Job.objects.filter(preparation__order_id=order.pk).exclude(status=JobStatus.CANCELLED).order_by("fill")
                            .values_list("preparation_id", "status")):
        latest[prep_id] = status
    statuses = set(latest.values())
    order.refresh_from_db()
    if not statuses or order.status not in ORDER_OPEN:
        return
    if statuses == {JobStatus.DELIVERED}:
        target = OrderStatus.DELIVERED
    elif statuses <= {JobStatus.SHIPPED, JobStatus.DELIVERED}:
        target = OrderStatus.SHIPPED
    else:
        return
    if target != order.status:
        order_transition(order=order, to=target, by=by, kind=OrderEventKind.STATUS_CHANGED,
                         message="every preparation has shipped" if target == OrderStatus.SHIPPED else "every parcel has arrived")
