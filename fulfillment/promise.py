"""The delivery promise: the day an order will ship and the day it will arrive.

Worked out from what the pharmacy measurably does (preparations shipped per business day over the
last four weeks), the work ahead of the order in the queue, the pharmacy's business days and daily
cut-off (settings), and the transit days of the carrier service it will go by. The calendar
arithmetic is pure; the two counts come from the database.

An order counts as received on the day it was signed when that is a business day before the cut-off,
otherwise on the next business day. It ships `PHARMACY_LEAD_DAYS` business days after that (rush:
`PHARMACY_RUSH_LEAD_DAYS`), plus one business day for each full day's work queued ahead of it, and
arrives the carrier's transit days (business days) after shipping."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

from fulfillment.business_days import add_business_days, business_days_between, received_on
from fulfillment.models import Job, JobStatus
from fulfillment.carriers import carrier_for
from orders.models import OrderStatus, Preparation

# Jobs that still need the bench: ready jobs only wait for the carrier, held ones for a decision.
OPEN = (JobStatus.QUEUED, JobStatus.REWORK, JobStatus.COMPOUNDING, JobStatus.QC)
AWAITING_VERIFICATION = (OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION, OrderStatus.CLARIFICATION_REQUESTED)
RUSH_PRIORITY = 10  # an accepted rush puts the order's jobs above every normal job (priority 0–9)
THROUGHPUT_WINDOW = dt.timedelta(days=28)


@dataclass(frozen=True)
class Promise:
    ship_date: dt.date
    delivery_date: dt.date
    received_on: dt.date
    ahead: int  # preparations ahead of this order at the bench
    per_day: float  # preparations the pharmacy finishes in a business day
    service: str
    transit_days: int
    rush: bool


def promise_compute(*, at: dt.datetime, ahead: int, own: int, per_day: float, service: str, transit_days: int,
                    rush: bool = False) -> Promise:
    """The promise for `own` preparations with `ahead` queued before them at `per_day` a day."""
    start = received_on(at)
    lead = settings.PHARMACY_RUSH_LEAD_DAYS if rush else settings.PHARMACY_LEAD_DAYS
    queue_days = max(0, math.ceil((ahead + max(own, 1)) / per_day) - 1)  # whole days of work before ours is done
    ship = add_business_days(start, lead + queue_days)
    return Promise(ship_date=ship, delivery_date=add_business_days(ship, transit_days), received_on=start, ahead=ahead,
                   per_day=per_day, service=service, transit_days=transit_days, rush=rush)


# --- What the pharmacy does (reads) -------------------------------------------------------------

def throughput_per_day(*, now: dt.datetime | None = None) -> float:
    """Preparations shipped per business day over the last four weeks, never below the pharmacy's
    stated minimum capacity (a new pharmacy has no history to measure)."""
    now = now or timezone.now()
    return _per_day(shipped=_shipped(now=now).count(), now=now)


def _shipped(*, now: dt.datetime) -> QuerySet:
    return Job.objects.filter(shipment__shipped_at__gte=now - THROUGHPUT_WINDOW, shipment__shipped_at__lt=now)


def _per_day(*, shipped: int, now: dt.datetime) -> float:
    since = now - THROUGHPUT_WINDOW
    days = max(1, business_days_between(timezone.localtime(since).date(), timezone.localtime(now).date()))
    return max(shipped / days, float(settings.PHARMACY_MIN_DAILY_CAPACITY))


def work_ahead(*, rush: bool, order_id: int | None = None, signed_before: dt.datetime | None = None) -> int:
    """Preparations that will be worked before this order's: open jobs of at least its priority, and
    (for a normal order) preparations of orders signed before it that still await verification."""
    return sum(counts(*_ahead(rush=rush, order_id=order_id, signed_before=signed_before)))


def _ahead(*, rush: bool, order_id: int | None, signed_before: dt.datetime | None) -> list[QuerySet]:
    jobs = Job.objects.filter(status__in=OPEN)
    if rush:
        jobs = jobs.filter(priority__gte=RUSH_PRIORITY)
    if order_id is not None:
        jobs = jobs.exclude(preparation__order_id=order_id)
    if rush:
        return [jobs]
    waiting = Preparation.objects.filter(order__status__in=AWAITING_VERIFICATION)
    if signed_before is not None:
        waiting = waiting.filter(order__signed_at__lte=signed_before)
    if order_id is not None:
        waiting = waiting.exclude(order_id=order_id)
    return [jobs, waiting]


def counts(*querysets: QuerySet) -> list[int]:
    """Each queryset's count, in one query (a promise is made while an order is signed: one round trip, not three)."""
    if len(querysets) == 1:
        return [querysets[0].count()]
    parts, params = [], []
    for qs in querysets:
        sql, qs_params = qs.order_by().values("pk").query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted)")
        params.extend(qs_params)
    with connections[querysets[0].db].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        return [int(n) for n in cursor.fetchone()]


def promise_service(*, refrigerate: bool) -> tuple[str, int]:
    """The service a parcel will go by, and its transit days: overnight with a cold pack for anything
    to be refrigerated, otherwise the pharmacy's usual service."""
    carrier = carrier_for(settings.PHARMACY_CARRIER)
    service = carrier.cold_chain_service if refrigerate else settings.PHARMACY_DEFAULT_SERVICE
    return service, carrier.transit_days(service)


def promise_estimate(*, preparations: int, refrigerate: bool, rush: bool = False, order_id: int | None = None,
                     at: dt.datetime | None = None) -> Promise:
    """The promise for an order of `preparations` signed (or to be signed) at `at`."""
    at = at or timezone.now()
    service, transit = promise_service(refrigerate=refrigerate)
    *ahead, shipped = counts(*_ahead(rush=rush, order_id=order_id, signed_before=at), _shipped(now=at))
    return promise_compute(at=at, ahead=sum(ahead), own=preparations, per_day=_per_day(shipped=shipped, now=at), service=service,
                           transit_days=transit, rush=rush)


def promise_for_order(*, order, rush: bool, at: dt.datetime | None = None) -> Promise:
    preparations = list(order.preparations.values_list("storage", flat=True))
    return promise_estimate(preparations=len(preparations), refrigerate="refrigerate" in preparations, rush=rush,
                            order_id=order.pk, at=at)


def order_signing_estimate(*, order_id, preparations: int, refrigerate: bool, at: dt.datetime):
    """What orders' promise seam asks (orders/promise.py): the dates alone."""
    promise = promise_estimate(preparations=preparations, refrigerate=refrigerate, order_id=order_id, at=at)
    return promise.ship_date, promise.delivery_date


def job_due(*, promised: dt.date | None, today: dt.date) -> str:
    """A job's standing against its order's promised ship date: on_time, due_today or late ('' if none)."""
    if promised is None:
        return ""
    if promised < today:
        return "late"
    return "due_today" if promised == today else "on_time"

