"""The one door for an order's status: the transition table, who may move it, a conditional
update that must hit one row, and the event in the same transaction. The event is announced
(orders.events) so that apps above react in that transaction; a refused move is recorded once the
refused change has rolled back (portal.errors.record_refusal, at the entry point)."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models import F

from orders.events import order_event_recorded
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus, Preparation, PreparationStatus
from portal.errors import Conflict
from portal.models import PHARMACY_ROLES, Role

log = logging.getLogger(__name__)
S = OrderStatus
PRESCRIBER = frozenset({Role.PRESCRIBER})
PHARMACIST = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})
ANYONE = frozenset({Role.PRESCRIBER, *PHARMACY_ROLES})
STAFF_OR_SYSTEM = frozenset({*PHARMACY_ROLES, "system"})  # the roll-up from jobs: a shipment by staff, a delivery by the carrier poll

# (from, to) -> the roles that may make that move
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.DRAFT, S.SUBMITTED): PRESCRIBER,
    # No (DRAFT, CANCELLED): a draft was never signed, so it is discarded (orders.services.order_draft_discard),
    # never cancelled; a cancelled order is a signed one (the order_signed_unless_draft constraint).
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
                 preparation: Preparation | None = None, sequence: int | None = None) -> OrderEvent:
    """Append an event with the order's next sequence number (the row is locked by the update), and
    announce it to the apps above, in this same transaction. `sequence` is given only by the door that has just
    created the order in this transaction with its counter already at that number (its first event). No savepoint of its
    own: an error in it or in a receiver undoes the caller's change with it (the caller's atomic block rolls back)."""
    with transaction.atomic(savepoint=False):
        if sequence is None:
            sequence = counter_next(order=order, column="event_sequence")
        event = OrderEvent.objects.create(order=order, preparation=preparation, sequence=sequence, kind=kind, actor=actor,
                                          message=message, from_status=from_status, to_status=to_status)
        order_event_recorded.send(sender=OrderEvent, event=event)
    return event


def counter_next(*, order: Order, column: str) -> int:
    """Add one to one of the order's counters (event_sequence, webhook_sequence) and return it, in one statement:
    the update locks the order's row until the caller's transaction ends, so two callers never get the same number."""
    assert column in ("event_sequence", "webhook_sequence")
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE {Order._meta.db_table} SET {column} = {column} + 1 WHERE id = %s RETURNING {column}', [order.pk])
        return cursor.fetchone()[0]


def _role(by) -> str:
    return "system" if by is None else by.role


def refusal_record(exc: IllegalTransition, *, order: Order, frm: str, to: str, by, message: str,
                   preparation: Preparation | None = None) -> IllegalTransition:
    """Both doors refuse alike: log it, and have the entry point record it once the refused change has
    rolled back (recorded inside the caller's transaction, it would be rolled back with it)."""
    who = "the system" if by is None else by.username
    log.warning("refused transition %s: %s -> %s by %s", message, frm, to, who)
    exc.after_rollback(lambda: event_record(order=order, preparation=preparation, kind=OrderEventKind.TRANSITION_REFUSED, actor=by,
                                            from_status=frm, to_status=to, message=f"{message}: {frm} → {to} refused"))
    return exc


def may_transition(*, order: Order, to: str, by) -> bool:
    roles = TRANSITIONS.get((order.status, to))
    return bool(roles) and _role(by) in roles


def may_cancel(*, order: Order, by) -> bool:
    """What the door would answer to a cancel now: the table, the role, and nothing started."""
    return may_transition(order=order, to=S.CANCELLED, by=by) and not any(p.status in STARTED for p in order.preparations.all())


def order_transition(*, order: Order, to: str, by, message: str = "", kind: str = OrderEventKind.STATUS_CHANGED, **fields) -> Order:
    """Move `order` to `to`. Raises IllegalTransition (409) when the table, the role or a concurrent
    change forbids it; nothing is written then but the refusal, after the rollback."""
    frm = order.status
    roles = TRANSITIONS.get((frm, to))
    if roles is None:
        said = (f"Order {order.number} is already {S(frm).label.lower()}." if frm == to else
                f"Order {order.number} is {order.get_status_display().lower()}; it cannot become {S(to).label.lower()}.")
        raise refusal_record(IllegalTransition(said), order=order, frm=frm, to=to, by=by, message=order.number)
    if _role(by) not in roles:
        who = "The system" if by is None else f"A {by.get_role_display().lower()}"
        raise refusal_record(IllegalTransition(f"{who} cannot move an order from {S(frm).label.lower()} to {S(to).label.lower()}."),
                             order=order, frm=frm, to=to, by=by, message=order.number)
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
            # Preparations that are not jobs yet; each job is cancelled through the job door by the app that owns
            # jobs, when it hears of this event.
            order.preparations.filter(status=PreparationStatus.PENDING).update(status=PreparationStatus.CANCELLED)
        event_record(order=order, kind=kind, actor=by, message=message, from_status=frm, to_status=to)
    order.refresh_from_db()
    return order
