"""Preparations per formulation and the verification and claim-to-release times are kept per closed day
(fulfillment.models.MetricsDay) and read back instead of recounted: the figures still equal the independent count from
the rows (tests/fulfillment/test_metrics.expected) on a range that ends today (today's rows counted live, never kept),
and after rows of kept days change: an order signed again today (as an amendment does), a preparation added, one
removed and one changed, an approval recorded on a past day, a released job's claim moved. The database forgets a
changed day (migrations fulfillment.0018 and 0019's triggers), so the next read makes it again."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from fulfillment import metrics
from fulfillment.models import Job, MetricsDay
from orders.models import Order, OrderEvent, Preparation
from tests.fulfillment.test_metrics import expected, history  # noqa: F401 (history: the generator's year, a fixture)

pytestmark = pytest.mark.django_db


KEPT = ("formulations", "verification", "claim_to_release")


def formulations(pharmacist, start, end):
    return kept_figures(pharmacist, start, end)["formulations"]


def kept_figures(pharmacist, start, end):
    rng = metrics.metrics_range(raw_from=start.isoformat(), raw_to=end.isoformat())
    figures = {f.key: f.rows for f in metrics.metrics_compute(user=pharmacist, rng=rng) if f.key in KEPT}
    figures["formulations"] = sorted(figures["formulations"], key=lambda r: (-r[1], r[0]))
    return figures


def independent(start, end):
    want = expected(start, end, timezone.now())
    return {key: want[key] for key in KEPT}


def test_kept_days_equal_the_rows_and_follow_changes(history, pharmacist):  # noqa: F811
    today = timezone.localdate()
    start = today - dt.timedelta(days=40)
    tz = str(timezone.get_current_timezone())
    # Orders signed today and on the days before it, to be counted.
    assert Order.objects.filter(signed_at__date__gte=start).exclude(signed_at=None).count() > 50

    before = independent(start, today)
    assert kept_figures(pharmacist, start, today) == before
    kept = set(MetricsDay.objects.filter(tz=tz).values_list("day", flat=True))
    assert kept == {start + dt.timedelta(days=n) for n in range(40)}, "every closed day kept, today not"
    # Read again: from the kept days, the same figures.
    assert kept_figures(pharmacist, start, today) == before

    def signed_day(order):
        return timezone.localtime(order.signed_at).date()

    closed = [o for o in Order.objects.filter(signed_at__date__gte=start + dt.timedelta(days=1)).exclude(signed_at=None)
              .order_by("signed_at") if start < signed_day(o) < today - dt.timedelta(days=1)]
    unworked = [o for o in closed if not Job.objects.filter(preparation__order=o).exists()]  # a preparation that can go
    resigned, grown, shrunk = closed[0], closed[len(closed) // 2], unworked[-1]
    days = {signed_day(resigned), signed_day(grown), signed_day(shrunk)}
    assert len(days) == 3 and unworked
    # An order signed again now (an amendment): it leaves its day for today.
    Order.objects.filter(pk=resigned.pk).update(signed_at=timezone.now())
    # A preparation more, of a formulation no one ordered, on another closed day; one fewer on a third.
    extra = Preparation.objects.filter(order=grown).first()
    extra.pk, extra.public_id, extra.position = None, uuid.uuid4(), 99
    extra.ingredients = [{"ingredient": "niacinamide", "name": "Niacinamide", "percent": 7.5, "share_percent": 7.5}]
    extra.save()
    Preparation.objects.filter(order=shrunk).order_by("position").first().delete()
    renamed = next(o for o in closed if signed_day(o) not in days)  # and one changed in place
    Preparation.objects.filter(order=renamed).update(base_name="Another base")
    days.add(signed_day(renamed))
    # An approval recorded on another past day (moved two days later), and a released job's claim moved.
    approval = OrderEvent.objects.filter(kind="approved", order__in=[o for o in closed if signed_day(o) not in days]).exclude(
        created_at__date__gte=today - dt.timedelta(days=3)).order_by("created_at").last()
    moved_from = timezone.localtime(approval.created_at).date()
    OrderEvent.objects.filter(pk=approval.pk).update(created_at=approval.created_at + dt.timedelta(days=2))
    days |= {moved_from, moved_from + dt.timedelta(days=2)}
    job = Job.objects.filter(verified_at__date__gte=start + dt.timedelta(days=1), claimed_at__isnull=False).exclude(
        verified_at__date__gte=today - dt.timedelta(days=1)).order_by("verified_at").last()
    released_day = timezone.localtime(job.verified_at).date()
    Job.objects.filter(pk=job.pk).update(claimed_at=job.claimed_at - dt.timedelta(hours=30))
    days.add(released_day)

    assert not MetricsDay.objects.filter(tz=tz, day__in=days).exists(), "the changed days are forgotten"
    assert MetricsDay.objects.filter(tz=tz).count() == 40 - len(days)
    want = independent(start, today)
    assert all(want[key] != before[key] for key in KEPT)
    assert kept_figures(pharmacist, start, today) == want
    assert MetricsDay.objects.filter(tz=tz).count() == 40, "made again"


def test_a_range_that_ends_before_today_keeps_each_day_once(history, pharmacist):  # noqa: F811
    today = timezone.localdate()
    start, end = today - dt.timedelta(days=60), today - dt.timedelta(days=20)
    want = expected(start, end, timezone.now())["formulations"]
    assert formulations(pharmacist, start, end) == want
    assert formulations(pharmacist, start - dt.timedelta(days=5), end) == expected(start - dt.timedelta(days=5), end,
                                                                                     timezone.now())["formulations"]
    days = list(MetricsDay.objects.values_list("day", flat=True))
    assert len(days) == len(set(days)) == 46


def test_a_writer_holding_the_lock_is_never_waited_for(history, pharmacist):  # noqa: F811
    """While a writer holds the lock the triggers take shared (it is mid-transaction, its order row locked), the page
    does not wait for it (a writer behind the page would wait too): the missing days are counted live, right, and not
    kept; the next read, the writer gone, keeps them."""
    import threading

    from django.db import connection, transaction

    today = timezone.localdate()
    start = today - dt.timedelta(days=12)
    held, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [metrics.KEPT_DAYS_LOCK])
                held.set()
                release.wait(30)  # a page that waited for the lock would get it only after this, and keep the days
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(30)
        assert kept_figures(pharmacist, start, today) == independent(start, today)
        assert not MetricsDay.objects.exists(), "nothing kept while a writer held the lock"
    finally:
        release.set()
        thread.join(30)
    assert kept_figures(pharmacist, start, today) == independent(start, today)
    assert MetricsDay.objects.filter(day__gte=start, day__lt=today).count() == 12


def test_missing_days_are_made_in_short_runs():
    day = dt.date(2026, 1, 1)
    days = [day + dt.timedelta(days=n) for n in (*range(0, 70), 72, 73, 80)]
    runs = list(metrics._runs(days, most=metrics.KEPT_DAYS_AT_ONCE))
    assert [len(run) for run in runs] == [31, 31, 8, 2, 1]
    assert [day for run in runs for day in run] == days
    assert all((b - a).days == 1 for run in runs for a, b in zip(run, run[1:], strict=False))
