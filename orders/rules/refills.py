"""When a refill may be made (issue 18; the rules and their sentences are in docs/rules.md). Pure: plain
data in, at most one refusal out, no Django and no database, so the API, the pages, the patient's page and
the auto-refill beat all ask the same question and get the same answer."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

ACTIVE_ORDER_STATUSES = frozenset({"approved", "shipped", "delivered"})
OVERRIDABLE = frozenset({"REFILL_TOO_SOON"})


@dataclass(frozen=True)
class RefillFacts:
    today: dt.date
    order_status: str  # the order's status code
    preparation_status: str
    signed_on: dt.date
    refills: int  # written on the prescription
    refills_remaining: int  # not yet released
    open_refills: int  # requested and not yet released: each holds one of the remaining
    fill_in_progress: bool  # a fill of this preparation is still being made (not shipped, not cancelled)
    last_shipped_on: dt.date | None  # the latest fill's shipping day
    interval_days: int | None  # the prescriber's interval between fills, if set
    expiry_days: int = 365  # a prescription expires this long after signing
    too_soon_share: float = 0.70  # a refill is due once this share of the interval has passed
    default_gap_days: int = 21  # ... or this long after the previous fill shipped, when no interval was set


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    earliest: dt.date | None = None

    @property
    def overridable(self) -> bool:
        return self.code in OVERRIDABLE


def _day(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def expires_on(facts: RefillFacts) -> dt.date:
    return facts.signed_on + dt.timedelta(days=facts.expiry_days)


def earliest_refill(facts: RefillFacts) -> dt.date | None:
    """The first day a refill is not too soon: a share of the interval (rounded up to whole days), or the
    default gap, after the previous fill shipped. None before any fill has shipped."""
    if facts.last_shipped_on is None:
        return None
    gap = math.ceil(facts.interval_days * facts.too_soon_share) if facts.interval_days else facts.default_gap_days
    return facts.last_shipped_on + dt.timedelta(days=gap)


def next_refill_on(facts: RefillFacts) -> dt.date | None:
    """When the next refill is due, for people: the earliest day, or None when no refill can come."""
    refusal = refill_refusal(facts)
    if refusal is not None and refusal.code != "REFILL_TOO_SOON":
        return None
    return earliest_refill(facts)


def refill_refusal(facts: RefillFacts) -> Refusal | None:
    """The first reason a refill cannot be made today, or None. Order: the order itself, expiry, the count,
    a fill still being made, then timing (the only one a pharmacist may override)."""
    if facts.order_status not in ACTIVE_ORDER_STATUSES or facts.preparation_status == "cancelled":
        if facts.order_status in ("cancelled", "rejected"):
            word = "cancelled" if facts.order_status == "cancelled" or facts.preparation_status == "cancelled" else "rejected"
            return Refusal("ORDER_NOT_ACTIVE", f"This prescription was {word}; it cannot be refilled.")
        if facts.preparation_status == "cancelled":
            return Refusal("ORDER_NOT_ACTIVE", "This preparation was cancelled; it cannot be refilled.")
        return Refusal("ORDER_NOT_ACTIVE", "This prescription has not been approved by the pharmacy yet; it cannot be refilled.")
    end = expires_on(facts)
    if facts.today > end:
        return Refusal("PRESCRIPTION_EXPIRED", f"This prescription expired on {_day(end)}; ask the prescriber to renew it.")
    if facts.refills_remaining - facts.open_refills <= 0:
        if facts.refills == 0:
            return Refusal("NO_REFILLS_LEFT", "This prescription has no refills; ask the prescriber to renew it.")
        used = "The one refill" if facts.refills == 1 else f"All {facts.refills} refills"
        return Refusal("NO_REFILLS_LEFT", f"{used} of this prescription {'has' if facts.refills == 1 else 'have'} been used or requested; "
                                          "ask the prescriber to renew it.")
    if facts.fill_in_progress:
        return Refusal("FILL_IN_PROGRESS", "The previous fill is still being made or has not shipped yet; a refill can follow it.")
    earliest = earliest_refill(facts)
    if earliest is not None and facts.today < earliest:
        return Refusal("REFILL_TOO_SOON", f"Too soon for a refill: the earliest day is {_day(earliest)}.", earliest=earliest)
    return None
