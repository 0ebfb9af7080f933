"""The pharmacy's calendar: business days (Monday to Friday, less the holidays) and the daily
cut-off after which an order counts as received on the next business day. Pure date arithmetic.

The holidays are PHARMACY_HOLIDAYS when it is set, else the US federal holidays that USPS and the carriers keep
(5 U.S.C. 6103), each on its observed day: one falling on a Saturday is kept the Friday before, on a Sunday the
Monday after."""

from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.utils import timezone

MON, THU = 0, 3


def _nth(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th `weekday` of the month (n = -1: the last)."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=1) if day.weekday() == 5 else day + dt.timedelta(days=1) if day.weekday() == 6 else day


def _federal(year: int) -> dict[dt.date, str]:
    """The year's federal holidays on their own dates."""
    return {
        dt.date(year, 1, 1): "New Year's Day", _nth(year, 1, MON, 3): "Martin Luther King Jr. Day",
        _nth(year, 2, MON, 3): "Presidents' Day", _nth(year, 5, MON, -1): "Memorial Day",
        **({dt.date(year, 6, 19): "Juneteenth"} if year >= 2021 else {}), dt.date(year, 7, 4): "Independence Day",
        _nth(year, 9, MON, 1): "Labor Day", _nth(year, 10, MON, 2): "Columbus Day", dt.date(year, 11, 11): "Veterans Day",
        _nth(year, 11, THU, 4): "Thanksgiving Day", dt.date(year, 12, 25): "Christmas Day",
    }


@functools.lru_cache(maxsize=64)
def carrier_holidays(year: int) -> dict[dt.date, str]:
    """The days of `year` the carriers keep as holidays, on their observed day (next year's New Year's Day on a
    Saturday is kept on this year's December 31)."""
    days = {_observed(day): name for y in (year, year + 1) for day, name in _federal(y).items()}
    return {day: name for day, name in sorted(days.items()) if day.year == year}


def is_holiday(day: dt.date) -> bool:
    configured = settings.PHARMACY_HOLIDAYS
    if configured is None:
        return day in carrier_holidays(day.year)
    return day.isoformat() in configured


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


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
