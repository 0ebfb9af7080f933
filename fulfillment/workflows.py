"""Workflows that move an order and its jobs together, calling both doors (orders.transitions for the
order, fulfillment.transitions for its jobs), each in one transaction:

- approve: the order is approved and each preparation becomes a queued job;
- reject, and ask the prescriber to clarify: the order only, but the pharmacist's verification;
- an order's cancel (announced by the order door, orders.events) cancels each of its open jobs
  through the job door: each with its event, version bump and webhook.
"""

from __future__ import annotations

from django.db import transaction

from fulfillment.models import Job, JobStatus
from fulfillment.promise import RUSH_PRIORITY
from fulfillment.transitions import job_create, job_transition
from orders import services as order_services
from orders.models import Order, OrderEventKind, OrderStatus, RushStatus
from orders.transitions import order_transition
from portal.errors import ServiceError

OPEN = (JobStatus.QUEUED, JobStatus.ON_HOLD)  # the jobs an order's cancel may still stop (the order door refuses once one has started)


def order_approve(*, order: Order, by, acknowledged_warnings: list[str]) -> Order:
    """Approve after acknowledging every warning by its code; each preparation becomes a job."""
    warnings = sorted({f["code"] for p in order.preparations.all() for f in p.checked.get("findings", []) if f["severity"] == "warning"})
    missing = [code for code in warnings if code not in set(acknowledged_warnings or [])]
    if missing:
        raise ServiceError(f"Acknowledge every warning before approving: {', '.join(missing)}.", code="warnings_not_acknowledged",
                           fields={"acknowledged_warnings": [f"Not acknowledged: {', '.join(missing)}."]})
    with transaction.atomic():
        order = order_transition(order=order, to=OrderStatus.APPROVED, by=by, kind=OrderEventKind.APPROVED,
                                 message=f"Warnings acknowledged: {', '.join(warnings)}" if warnings else "")
        priority = RUSH_PRIORITY if order.rush == RushStatus.ACCEPTED else 0
        for prep in order.preparations.all():
            job_create(preparation=prep, by=by, priority=priority)
    return order


def order_reject(*, order: Order, by, reason: str) -> Order:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Give the prescriber a reason.", fields={"reason": ["This field is required."]})
    return order_transition(order=order, to=OrderStatus.REJECTED, by=by, message=reason[:2000], kind=OrderEventKind.REJECTED)


def order_clarify(*, order: Order, by, question: str) -> Order:
    """Ask the prescriber a question; the order waits for the answer (orders keeps the question's rules)."""
    return order_services.order_request_clarification(order=order, by=by, question=question)


def on_order_event(sender, event, **kwargs) -> None:
    """Receiver of orders.events.order_event_recorded: an order cancelled cancels its open jobs, one by
    one through the job door, in the order's transaction (a job that moved meanwhile refuses, and so
    does the cancel)."""
    if event.kind != OrderEventKind.CANCELLED:
        return
    order = event.order
    for job in Job.objects.filter(preparation__order=order, status__in=OPEN).select_related("preparation__order").order_by("pk"):
        job_transition(job=job, to=JobStatus.CANCELLED, by=None, message=f"{job.number}: cancelled with order {order.number}")
