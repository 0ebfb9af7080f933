"""Rush: the pharmacist's answer to a prescriber's request. Accepting moves the order's open jobs above
every normal job and recomputes the promise as a rush; both happen in one transaction with the
order's rush answer (through orders' service), so the queue and the promise never disagree."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from fulfillment.models import Job, JobStatus
from fulfillment.promise import RUSH_PRIORITY, promise_for_order
from orders import services as order_services
from orders.models import Order
from orders.promise import PromiseDates

# Jobs whose place in the queue can still change.
WAITING = (JobStatus.QUEUED, JobStatus.REWORK, JobStatus.ON_HOLD, JobStatus.COMPOUNDING, JobStatus.QC)


def order_rush_accept(*, order: Order, by) -> Order:
    with transaction.atomic():
        rushed = promise_for_order(order=order, rush=True)
        # A rush never promises later than what was already promised.
        ship = min(filter(None, [rushed.ship_date, order.promised_ship_date]))
        delivery = min(filter(None, [rushed.delivery_date, order.promised_delivery_date]))
        order = order_services.order_rush_answer(order=order, by=by, accept=True, promise=PromiseDates(ship_date=ship, delivery_date=delivery))
        Job.objects.filter(preparation__order=order, status__in=WAITING, priority__lt=RUSH_PRIORITY).update(
            priority=RUSH_PRIORITY, version=F("version") + 1)
    return order


def order_rush_decline(*, order: Order, by, reason: str) -> Order:
    return order_services.order_rush_answer(order=order, by=by, accept=False, reason=reason)
