"""Two technicians record compounding records that use the same lots at the same moment, on PostgreSQL
with real threads. formulary.services.stock_lots_consume locks the lots' rows in primary-key order, so
two records never each hold one lot while waiting for the other's (a deadlock), and every gram is
accounted for."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from formulary.models import StockLot
from formulary.services import stock_lots_consume

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _two_lots():
    return list(StockLot.objects.filter(material__code__in=["pe9010", "niacinamide"]).order_by("pk")[:2])


def _someone_waits_for_a_lock(seconds=10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def test_lots_are_locked_in_primary_key_order_whatever_order_the_record_lists_them(ready):
    """While another transaction holds the lower lot, a record listing the higher lot first waits for the lower
    one before it takes the higher: so the higher lot is still free (in the listed order it would be held)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    low, high = _two_lots()
    holding, release, errors = threading.Event(), threading.Event(), []

    def holder():
        try:
            with transaction.atomic():
                StockLot.objects.select_for_update().get(pk=low.pk)
                holding.set()
                release.wait(20)
        finally:
            connection.close()

    def record():
        try:
            with transaction.atomic():
                stock_lots_consume(takes=[(high, Decimal("1")), (low, Decimal("1"))])
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert holding.wait(10)
    threads.append(threading.Thread(target=record))
    threads[1].start()
    try:
        assert _someone_waits_for_a_lock(), "the record should be waiting for the lower lot"
        with transaction.atomic():
            StockLot.objects.select_for_update(nowait=True).get(pk=high.pk)  # raises if the waiting record holds it
    except DatabaseError as exc:
        pytest.fail(f"the higher lot was taken before the lower one: {exc!r}")
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert errors == []


def test_two_records_over_the_same_lots_in_opposite_orders_finish_without_deadlock(ready):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    low, high = _two_lots()
    before = {lot.pk: lot.quantity_on_hand for lot in (low, high)}
    rounds, errors = 15, []

    def record(takes, barrier):
        try:
            barrier.wait()
            with transaction.atomic():
                stock_lots_consume(takes=takes)
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    for _ in range(rounds):
        barrier = threading.Barrier(2)
        orders = ([(low, Decimal("0.5")), (high, Decimal("0.5"))], [(high, Decimal("0.5")), (low, Decimal("0.5"))])
        threads = [threading.Thread(target=record, args=(takes, barrier)) for takes in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(f"\n{rounds} rounds of two concurrent records over the same two lots: errors {errors}")
    assert errors == []
    for lot in (low, high):
        lot.refresh_from_db()
        assert lot.quantity_on_hand == before[lot.pk] - Decimal("1.0") * rounds
