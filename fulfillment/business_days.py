"""The pharmacy's calendar: business days (Monday to Friday, less PHARMACY_HOLIDAYS) and the daily
cut-off after which an order counts as received on the next business day. Pure date arithmetic."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day.isoformat() not in settings.PHARMACY_HOLIDAYS


def next_business_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def add_business_days(day: dt.date, count: int) -> dt.date:
    """`count` business days after `day` (0: `day` itself, or the next business day if it is not one)."""
    if not is_business_day(day):
        day = next_business_day(day)
    for _ in range(count):
        day = next_business_day(day)
    return day


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days in [start, end)."""
    return sum(1 for n in range((end - start).days) if is_business_day(start + dt.timedelta(days=n)))


def received_on(at: dt.datetime) -> dt.date:
    """The business day an order signed at `at` counts as received (the cut-off is local time)."""
    local = timezone.localtime(at)
    if is_business_day(local.date()) and local.time() < settings.PHARMACY_CUTOFF:
        return local.date()
    return next_business_day(local.date())
