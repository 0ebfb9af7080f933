"""The delivery promise as orders sees it: a question that fulfillment answers.

Orders may not import fulfillment, yet the prescriber's review page and the signing door need the
pharmacy's estimate (it depends on the queue and on how fast the pharmacy ships, which fulfillment
owns). So fulfillment registers its estimator when it loads (fulfillment/apps.py) and orders asks
through this one function; without an estimator there is simply no promise. The signing door writes
the answer onto the order in its own transaction, where it stays to measure on-time shipping against."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class PromiseDates:
    ship_date: dt.date
    delivery_date: dt.date


_estimator: Callable | None = None


def promise_estimator_register(estimator: Callable) -> None:
    """`estimator(*, order_id, preparations, refrigerate, at)` answers (ship date, delivery date)."""
    global _estimator
    _estimator = estimator


def promise_estimate(*, preparations: int, refrigerate: bool, order_id: int | None = None,
                     at: dt.datetime | None = None) -> PromiseDates | None:
    if _estimator is None or preparations < 1:
        return None
    ship, delivery = _estimator(order_id=order_id, preparations=preparations, refrigerate=refrigerate, at=at or timezone.now())
    return PromiseDates(ship_date=ship, delivery_date=delivery)
