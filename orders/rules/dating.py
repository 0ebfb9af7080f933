"""A pharmacist's beyond-use date (BUD-13, BUD-14), pure: no database.

The USP <795> table gives a date from the preparation's class (engine.BUD_DAYS). A pharmacist may
assign a longer or a shorter one when a stability study, a publication or the supplier's stability
data supports it; the citation and the reason go on record, and the date is never later than the
earliest expiry of a lot that goes into the preparation (BUD-10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orders.rules.facts import Lot

MAX_ASSIGNED_DAYS = 730  # two years: anything longer is a typing error, not a stability claim


def day_words(day: dt.date) -> str:
    """A date in a message people read, as the portal writes it everywhere: "Jul 29, 2027" (portal.numbers.day_text)."""
    return f"{day:%b} {day.day}, {day.year}"


@dataclass(frozen=True)
class BudProblem:
    field: str  # "days" | "citation" | "reason"
    message: str


def assigned_bud_problems(*, days: int | None, citation: str, reason: str, start: dt.date, table_days: int,
                          lots: Iterable[Lot], names: Mapping[str, str] | None = None) -> list[BudProblem]:
    """What is wrong with assigning `days` from `start` (empty when it may be saved). `lots` are the
    lots the preparation would use; the assigned date may not pass the earliest of their expiries.
    `names`: item code → the name a person reads (the batch lines carry it)."""
    problems = []
    if days is None or days < 1 or days > MAX_ASSIGNED_DAYS:
        problems.append(BudProblem("days", f"Give the beyond-use period as a whole number of days from 1 to {MAX_ASSIGNED_DAYS}."))
    elif days == table_days:
        problems.append(BudProblem("days", f"{days} days is what the USP <795> table already gives; assign a longer or shorter "
                                           "period, or leave the table's date."))
    if not (citation or "").strip():
        problems.append(BudProblem("citation", "Cite the stability study, publication or supplier stability data that supports "
                                               "this date."))
    if not (reason or "").strip():
        problems.append(BudProblem("reason", "Say why this preparation gets a date other than the table's."))
    if days is not None and 1 <= days <= MAX_ASSIGNED_DAYS:
        date = start + dt.timedelta(days=days)
        for lot in sorted(lots, key=lambda lot: (lot.expires_on, lot.lot_number)):
            if lot.expires_on < date:
                problems.append(BudProblem(
                    "days", f"Lot {lot.lot_number} of {(names or {}).get(lot.item_code, lot.item_code)} expires {day_words(lot.expires_on)}, before "
                            f"{day_words(date)} ({days} days from {day_words(start)}): a beyond-use date is never later "
                            "than the expiry of a component."))
                break
    return problems


@dataclass(frozen=True)
class Dating:
    date: dt.date  # what the label says
    table_date: dt.date  # what the USP <795> table gives, always shown beside an assigned date
    assigned: bool  # the pharmacist's date (with its citation) is the one used
    limited_by_lot: dt.date | None = None  # the earliest lot expiry, when it cut the date short


def beyond_use(*, compounded_on: dt.date, table_days: int, assigned_days: int | None,
               lot_expiries: Iterable[dt.date] = ()) -> Dating:
    """The date for the label: the assigned period if there is one, else the table's; never past a lot's expiry."""
    table_date = compounded_on + dt.timedelta(days=table_days)
    date = compounded_on + dt.timedelta(days=assigned_days) if assigned_days else table_date
    earliest = min(lot_expiries, default=None)
    if earliest is not None and earliest < date:
        return Dating(date=earliest, table_date=table_date, assigned=bool(assigned_days), limited_by_lot=earliest)
    return Dating(date=date, table_date=table_date, assigned=bool(assigned_days))
