"""The one door for an order's status: the transition table, who may move it, a conditional
update that must hit one row, and the event in the same transaction."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from orders.models import Order, OrderEvent, OrderStatus, Preparation, PreparationStatus
from portal.errors import Conflict
from portal.models import PHARMACY_ROLES, Role

S = OrderStatus
PRESCRIBER = frozenset({Role.PRESCRIBER})
PHARMACIST = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
ANYONE = frozenset({Role.PRESCRIBER, *PHARMACY_ROLES})
STAFF_OR_SYSTEM = frozenset({*PHARMACY_ROLES, "system"})  # the roll-up from jobs: a shipment by staff, a delivery by the carrier poll

# (from, to) -> the roles that may make that move
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.DRAFT, S.SUBMITTED): PRESCRIBER,
    (S.DRAFT, S.CANCELLED): PRESCRIBER,
    (S.SUBMITTED, S.IN_VERIFICATION): PHARMACIST,
    (S.SUBMITTED, S.CLARIFICATION_REQUESTED): PHARMACIST,
    (S.SUBMITTED, S.APPROVED): PHARMACIST,
    (S.SUBMITTED, S.REJECTED): PHARMACIST,
    (S.SUBMITTED, S.CANCELLED): ANYONE,
    (S.IN_VERIFICATION, S.CLARIFICATION_REQUESTED): PHARMACIST,
    (S.IN_VERIFICATION, S.APPROVED): PHARMACIST,
    (S.IN_VERIFICATION, S.REJECTED): PHARMACIST,
    (S.IN_VERIFICATION, S.CANCELLED): ANYONE,
    (S.CLARIFICATION_REQUESTED, S.SUBMITTED): PRESCRIBER,
    (S.CLARIFICATION_REQUESTED, S.CANCELLED): ANYONE,
    (S.APPROVED, S.CANCELLED): ANYONE,  # only while no preparation has started compounding (checked below)
    (S.APPROVED, S.SHIPPED): STAFF_OR_SYSTEM,
    (S.APPROVED, S.DELIVERED): STAFF_OR_SYSTEM,
    (S.SHIPPED, S.DELIVERED): STAFF_OR_SYSTEM,
}
# Preparation statuses after which the order can no longer be cancelled.
STARTED = frozenset({PreparationStatus.COMPOUNDING, PreparationStatus.QC, PreparationStatus.READY, PreparationStatus.SHIPPED,
                     PreparationStatus.DELIVERED, PreparationStatus.REWORK})


class IllegalTransition(Conflict):
    code = "illegal_transition"


def event_record(*, order: Order, kind: str, actor=None, message: str = "", from_status: str = "", to_status: str = "",
                 preparation: Preparation | None = None) -> OrderEvent:
    """Append an event with the order's next sequence number (the row is locked by the update)."""
    Order.objects.filter(pk=order.pk).update(event_sequence=F("event_sequence") + 1)
    sequence = Order.objects.values_list("event_sequence", flat=True).get(pk=order.pk)
    event = OrderEvent.objects.create(order=order, preparation=preparation, sequence=sequence, kind=kind, actor=actor,
                                      message=message, from_status=from_status, to_status=to_status)
    from fulfillment.notifications.outbox import on_order_event  # the outbox: written in this same transaction

    on_order_event(event)
    return event


def _role(by) -> str:
    return "system" if by is None else by.role


def may_transition(*, order: Order, to: str, by) -> bool:
    roles = TRANSITIONS.get((order.status, to))
    return bool(roles) and _role(by) in roles


def may_cancel(*, order: Order, by) -> bool:
    """What the door would answer to a cancel now: the table, the role, and nothing started."""
    return may_transition(order=order, to=S.CANCELLED, by=by) and not any(p.status in STARTED for p in order.preparations.all())


def order_transition(*, order: Order, to: str, by, message: str = "", kind: str = "status_changed", **fields) -> Order:
    """Move `order` to `to`. Raises IllegalTransition (409) when the table, the role or a concurrent
    change forbids it; nothing is written then."""
    frm = order.status
    roles = TRANSITIONS.get((frm, to))
    if roles is None:
        raise IllegalTransition(f"Order {order.number} is {order.get_status_display().lower()}; it cannot become {S(to).label.lower()}.")
    if _role(by) not in roles:
        who = "The system" if by is None else f"A {by.get_role_display().lower()}"
        raise IllegalTransition(f"{who} cannot move an order from {S(frm).label.lower()} to {S(to).label.lower()}.")
    with transaction.atomic():
        started = set(order.preparations.filter(status__in=STARTED).values_list("status", flat=True)) if to == S.CANCELLED else set()
        if started:
            where = "has shipped" if started & {PreparationStatus.SHIPPED, PreparationStatus.DELIVERED} else "is being compounded"
            raise IllegalTransition(f"Order {order.number} {where}; it can no longer be cancelled. Call the pharmacy.")
        updated = Order.objects.filter(pk=order.pk, status=frm, version=order.version).update(
            status=to, version=F("version") + 1, **fields
        )
        if updated != 1:
            order.refresh_from_db()
            raise IllegalTransition(f"Order {order.number} was changed by someone else (it is now {order.get_status_display().lower()}).")
        if to == S.CANCELLED:
            from fulfillment.models import Job, JobStatus

            order.preparations.exclude(status__in=STARTED).update(status=PreparationStatus.CANCELLED)
            Job.objects.filter(preparation__order=order, status__in=[JobStatus.QUEUED, JobStatus.ON_HOLD]).update(status=JobStatus.CANCELLED)
        event_record(order=order, kind=kind, actor=by, message=message, from_status=frm, to_status=to)
    order.refresh_from_db()
    return order
