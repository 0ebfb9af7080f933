"""Pharmacy metrics for a date range: SQL aggregates over orders, jobs, events and shipments.

Each figure is one or two aggregate queries; no rows are read into Python. Percentiles are
PostgreSQL's `percentile_cont` (continuous, interpolated); on SQLite (`make run`) the same
percentile is computed in SQL with window functions. Every figure comes back as a table (columns
and rows, rounded as shown), a few headline numbers and a chart's data, so the page, its CSV and
the API all say the same thing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from fulfillment.models import Job, JobStatus, MetricsDay, QCResult, Shipment
from orders.models import Order, OrderEvent, Preparation
from portal.errors import Forbidden, ServiceError
from portal.models import Role
from portal.numbers import percent_text

DEFAULT_RANGE_DAYS = 30
QUEUE_STATUSES = (JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.REWORK, JobStatus.READY, JobStatus.ON_HOLD)
BUD_BUCKETS = (("Already past", None, 0), ("0–6 days", 0, 7), ("7–13 days", 7, 14), ("14–29 days", 14, 30),
               ("30–59 days", 30, 60), ("60–89 days", 60, 90), ("90 days or more", 90, None))
TOP = 20
HOUR = 3600.0


# --- The range ----------------------------------------------------------------------------------

class BadRange(ServiceError):
    code = "bad_range"


@dataclass(frozen=True)
class MetricsRange:
    start: dt.date
    end: dt.date  # inclusive

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the range (local midnight after its last day)."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def weeks(self) -> list[dt.date]:
        monday = self.start - dt.timedelta(days=self.start.weekday())
        return [monday + dt.timedelta(weeks=n) for n in range((self.end - monday).days // 7 + 1)]


def _day(raw: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise BadRange(f"“{raw[:40]}” is not a date: write the {name} date as YYYY-MM-DD, for example 2026-11-30.",
                       fields={name: ["Write a date as YYYY-MM-DD."]}) from None


def metrics_range(*, raw_from: str | None, raw_to: str | None, today: dt.date | None = None) -> MetricsRange:
    """The range asked for: both ends inclusive; by default the last 30 days. Raises BadRange (400)."""
    today = today or timezone.localdate()
    end = _day(raw_to, "to") if raw_to else today
    start = _day(raw_from, "from") if raw_from else end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise BadRange(f"The range starts on {start:%b %-d, %Y}, after it ends on {end:%b %-d, %Y}: swap the two dates.",
                       fields={"from": ["The start comes after the end."]})
    try:
        earliest = end.replace(year=end.year - 2) + dt.timedelta(days=1)
    except ValueError:  # the end is February 29
        earliest = end.replace(year=end.year - 2, day=28) + dt.timedelta(days=1)
    if start < earliest:
        raise BadRange(f"The range is {(end - start).days + 1:,} days long: more than two years. It can start on "
                       f"{earliest:%b} {earliest.day}, {earliest.year} at the earliest for this end date; choose a shorter range.",
                       fields={"from": ["At most two years before the end."]})
    return MetricsRange(start=start, end=end)


# --- SQL helpers --------------------------------------------------------------------------------

class SecondsBetween(Func):
    """Seconds from the second datetime to the first, as a float, in SQL."""

    arity = 2
    output_field = FloatField()
    template = "CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)"
    arg_joiner = " - "

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday(",
                           **extra)


def _sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


OVERALL = "__overall__"  # the key of the whole range's row beside the groups'


def percentile_sql(vendor: str, sql: str, ps, *, overall: bool = False, extras=()) -> str:
    """One row per group of `sql`'s (group, value) rows: group, n, max, each percentile, then each of
    `extras` (SQL aggregates over the value written with `{v}`). PostgreSQL adds the whole set's row
    (GROUPING SETS) when `overall`; its first column is then 1 on that row and 0 on the others."""
    more = "".join(", " + extra.format(v="t.v" if vendor == "postgresql" else "v") for extra in extras)
    if vendor == "postgresql":
        cols = ", ".join(f"percentile_cont({float(p)}) WITHIN GROUP (ORDER BY t.v)" for p in ps)
        if overall:
            return (f"SELECT GROUPING(t.g), t.g, COUNT(*), MAX(t.v), {cols}{more} FROM ({sql}) AS t(g, v) "
                    "GROUP BY GROUPING SETS ((t.g), ())")
        return f"SELECT t.g, COUNT(*), MAX(t.v), {cols}{more} FROM ({sql}) AS t(g, v) GROUP BY t.g"

    def at(p):
        pos = f"({float(p)} * (n - 1))"
        lo = f"CAST({pos} AS INTEGER)"
        return f"SUM(CASE WHEN i = {lo} THEN v * (1 - ({pos} - {lo})) WHEN i = {lo} + 1 THEN v * ({pos} - {lo}) ELSE 0 END)"

    return ("WITH t(g, v) AS (" + sql + "), r AS (SELECT g, v, ROW_NUMBER() OVER (PARTITION BY g ORDER BY v) - 1 AS i, "
            "COUNT(*) OVER (PARTITION BY g) AS n FROM t) "
            f"SELECT g, MAX(n), MAX(v), {', '.join(at(p) for p in ps)}{more} FROM r GROUP BY g")


def percentiles(queryset, value, *, group=None, ps=(0.5, 0.95), overall: bool = False, extras=()) -> dict:
    """{group: {"n", "max", 0.5: …, 0.95: …, "extra0": …}} of `value` over `queryset`, NULLs left out;
    with `overall`, also {OVERALL: …} for the whole set. PostgreSQL: percentile_cont, in one query
    (GROUPING SETS). SQLite: the same interpolation (position p·(n−1) in the ordered values) with
    ROW_NUMBER() and COUNT() windows; the whole set is a second query."""
    def run(grouping, with_overall):
        inner = (queryset.order_by().annotate(_metric_group=grouping if grouping is not None else Value(0, output_field=IntegerField()))
                 .annotate(_metric_value=value).filter(_metric_value__isnull=False).values_list("_metric_group", "_metric_value"))
        sql, params = _sql(inner)
        with connection.cursor() as cursor:
            cursor.execute(percentile_sql(connection.vendor, sql, ps, overall=with_overall, extras=extras), params)
            rows = cursor.fetchall()
        found = {}
        for row in rows:
            key = row[1] if with_overall else row[0]
            if with_overall and row[0]:
                key = OVERALL
            row = row[1:] if with_overall else row
            found[key] = {"n": row[1], "max": row[2], **{p: row[3 + i] for i, p in enumerate(ps)},
                          **{f"extra{i}": row[3 + len(ps) + i] or 0 for i in range(len(extras))}}
        return found

    if not overall:
        return run(group, False)
    if connection.vendor == "postgresql" and group is not None:
        found = run(group, True)
        if not found.get(OVERALL, {}).get("n"):
            found.pop(OVERALL, None)
        return found
    found = run(group, False) if group is not None else {}
    whole = run(None, False).get(0)
    if whole:
        found[OVERALL] = whole
    return found


def _date(value) -> dt.date | None:
    """A group key from a raw cursor (a date, a datetime, or SQLite's text) as a date."""
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _hours(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / HOUR, 1)


def _pct(part, whole) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- The figures --------------------------------------------------------------------------------

@dataclass
class Figure:
    key: str
    title: str
    about: str  # how it is measured, in one sentence
    columns: list[str]
    rows: list[list]
    chart: dict
    summary: list[tuple[str, object]] = field(default_factory=list)
    links: dict[int, str] = field(default_factory=dict)  # row index → where the row's last cell links

    def as_json(self) -> dict:
        return {"title": self.title, "about": self.about, "columns": self.columns, "rows": self.rows,
                "summary": [{"label": label, "value": value} for label, value in self.summary]}


def _week_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _weekly(rng: MetricsRange, by_week: dict, make_row) -> list[list]:
    return [[_week_label(week), *make_row(by_week.get(week))] for week in rng.weeks]


def _line(labels, series: list[tuple[str, list]], *, y: str, kind: str = "line", **extra) -> dict:
    return {"type": kind, "labels": labels, "y": y, "datasets": [{"label": label, "data": data} for label, data in series], **extra}


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())  # the week TruncWeek names: ISO weeks start on Monday


def _by_week(by_day: dict, keys) -> dict:
    """Daily counts summed into their weeks (counts of rows add up; distinct counts would not)."""
    weeks: dict = {}
    for day, counts in by_day.items():
        week = weeks.setdefault(_monday(day), dict.fromkeys(keys, 0))
        for key in keys:
            week[key] += counts[key]
    return weeks


def signed_by_day(rng: MetricsRange, tz) -> dict:
    """One pass over the orders signed in the range, by local day: how many, and how many of them the pharmacist asked
    to clarify (read by orders per day and the clarification rate)."""
    asked = OrderEvent.objects.filter(order=OuterRef("pk"), kind="clarification_requested")
    rows = (Order.objects.filter(signed_at__gte=rng.start_at, signed_at__lt=rng.end_at).order_by()
            .annotate(day=TruncDate("signed_at", tzinfo=tz), asked=Exists(asked)).values("day")
            .annotate(orders=Count("id"), asked_n=Count("id", filter=Q(asked=True))))
    return {_date(row.pop("day")): row for row in rows}


def shipped_by_day(rng: MetricsRange, tz) -> dict:
    """One pass over the parcels handed to the carrier in the range and their orders, by local day: the orders shipped
    (each once a day, however many parcels), and the (parcel, order) pairs, with a promise and on time (read by orders
    per day and on-time shipping)."""
    rows = (Shipment.objects.filter(shipped_at__gte=rng.start_at, shipped_at__lt=rng.end_at).order_by()
            .annotate(day=TruncDate("shipped_at", tzinfo=tz)).values("day")
            # A parcel holding several of a patient's orders is measured once per order, against each order's promise.
            .annotate(shipped=Count("orders", distinct=True), parcels=Count("id"),
                      promised=Count("id", filter=Q(orders__promised_ship_date__isnull=False)),
                      on_time=Count("id", filter=Q(day__lte=F("orders__promised_ship_date")))))
    return {_date(row.pop("day")): row for row in rows}


def orders_per_day(rng: MetricsRange, tz, signed: dict | None = None, shipped: dict | None = None) -> Figure:
    signed = signed_by_day(rng, tz) if signed is None else signed
    shipped = shipped_by_day(rng, tz) if shipped is None else shipped
    rows = [[day.isoformat(), signed.get(day, {}).get("orders", 0), shipped.get(day, {}).get("shipped", 0)] for day in rng.days]
    total_in, total_out = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return Figure(
        key="orders", title="Orders received and shipped per day",
        about="Received: orders signed that day. Shipped: orders with a parcel handed to the carrier that day.",
        columns=["Day", "Received", "Shipped"], rows=rows + [["Whole range", total_in, total_out]],
        summary=[("Orders received", total_in), ("Orders shipped", total_out)],
        chart=_line([r[0] for r in rows], [("Received", [r[1] for r in rows]), ("Shipped", [r[2] for r in rows])], y="orders"),
    )


def queue_age(now: dt.datetime) -> Figure:
    stats = percentiles(Job.objects.filter(status__in=QUEUE_STATUSES),
                        SecondsBetween(Value(now, output_field=DateTimeField()), F("created_at")), group=F("status"))
    rows, links = [], {}
    for index, status in enumerate(QUEUE_STATUSES):
        s = stats.get(status)
        oldest = (Job.objects.filter(status=status).order_by("created_at", "id").values("public_id", "number").first()
                  if s else None)
        rows.append([JobStatus(status).label, s["n"] if s else 0, _hours(s and s[0.5]), _hours(s and s[0.95]), _hours(s and s["max"]),
                     oldest["number"] if oldest else None])
        if oldest:
            links[index] = f"/pharmacy/jobs/{oldest['public_id']}/"
    return Figure(
        key="queue_age", title="Queue age now, by status",
        about="Hours since each job still at the pharmacy entered the queue (approval), as of now, whatever the range.",
        columns=["Status", "Jobs", "Median (hours)", "95th percentile (hours)", "Oldest (hours)", "Oldest job"], rows=rows,
        links=links, summary=[("Jobs at the pharmacy", sum(r[1] for r in rows))],
        chart=_line([r[0] for r in rows], [("Median", [r[2] for r in rows]), ("95th percentile", [r[3] for r in rows]),
                                           ("Oldest", [r[4] for r in rows])], y="hours", kind="bar"),
    )


def _interpolated(ordered: list, p: float) -> float:
    """percentile_cont's value: linear interpolation at position p·(n−1) of the ordered values."""
    position = p * (len(ordered) - 1)
    low = int(position)
    if low + 1 >= len(ordered) or position == low:
        return ordered[low]
    return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)


def _stats(values: list) -> dict | None:
    """What percentiles() answers for one group, from the values in Python: n, max, median, 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return {"n": len(ordered), "max": ordered[-1], 0.5: _interpolated(ordered, 0.5), 0.95: _interpolated(ordered, 0.95)}


def _turnaround_of_days(rng: MetricsRange, days: dict, kind: str) -> tuple[dict, dict | None]:
    """The weeks' and the whole range's statistics of `kind`'s seconds kept per day (kept_days)."""
    weeks: dict = {}
    for day in rng.days:
        weeks.setdefault(_monday(day), []).extend(days[day]["seconds"][kind])
    return {week: _stats(values) for week, values in weeks.items() if values}, _stats([v for values in weeks.values() for v in values])


def _turnaround(rng, tz, *, key, title, about, what, queryset, stamp, value, days=None) -> Figure:
    if days is not None:
        weekly, overall = _turnaround_of_days(rng, days, key)
    else:
        found = percentiles(queryset, value, group=TruncWeek(stamp, tzinfo=tz), overall=True)
        overall = found.pop(OVERALL, None)
        weekly = {_date(k): v for k, v in found.items()}
    rows = _weekly(rng, weekly, lambda s: [s["n"] if s else 0, _hours(s and s[0.5]), _hours(s and s[0.95])])
    total = [overall["n"] if overall else 0, _hours(overall and overall[0.5]), _hours(overall and overall[0.95])]
    return Figure(
        key=key, title=title, about=about, columns=["Week of", what, "Median (hours)", "95th percentile (hours)"],
        rows=rows + [["Whole range", *total]],
        summary=[(what, total[0]), ("Median (hours)", total[1]), ("95th percentile (hours)", total[2])],
        chart=_line([r[0] for r in rows], [("Median", [r[2] for r in rows]), ("95th percentile", [r[3] for r in rows])], y="hours"),
    )


def _approvals(start_at, end_at):
    return (OrderEvent.objects.filter(kind="approved", created_at__gte=start_at, created_at__lt=end_at), "created_at",
            SecondsBetween(F("created_at"), F("order__signed_at")))


def _releases(start_at, end_at):
    return (Job.objects.filter(verified_at__gte=start_at, verified_at__lt=end_at, claimed_at__isnull=False), "verified_at",
            SecondsBetween(F("verified_at"), F("claimed_at")))


TURNAROUNDS = {"verification": _approvals, "claim_to_release": _releases}  # the seconds kept per day (kept_days)


def verification_turnaround(rng, tz, days=None) -> Figure:
    approvals, stamp, value = _approvals(rng.start_at, rng.end_at)
    return _turnaround(rng, tz, key="verification", title="Verification turnaround (signed → approved)",
                       about="Hours from the prescriber's signature to the pharmacist's approval, for orders approved in the range.",
                       what="Orders approved", queryset=approvals, stamp=stamp, value=value, days=days)


def claim_to_release(rng, tz, days=None) -> Figure:
    released, stamp, value = _releases(rng.start_at, rng.end_at)
    return _turnaround(rng, tz, key="claim_to_release", title="Claim to release (claimed → released by the pharmacist)",
                       about="Hours from a technician's claim of a job to the pharmacist's final release, for jobs released in the range.",
                       what="Preparations released", queryset=released, stamp=stamp, value=value, days=days)


def qc_yield(rng, tz) -> Figure:
    checks = QCResult.objects.filter(recorded_at__gte=rng.start_at, recorded_at__lt=rng.end_at).order_by()
    counts = {"jobs": Count("job", distinct=True), "failed_jobs": Count("job", distinct=True, filter=Q(passed=False)),
              "failed": Count("id", filter=Q(passed=False))}
    by_week = checks.annotate(week=TruncWeek("recorded_at", tzinfo=tz))
    if connection.vendor == "postgresql":
        # The weeks and the whole range in one pass (GROUPING SETS); a preparation checked in two weeks counts once in each
        # and once in the whole range, so the whole range is not the weeks' sum.
        sql, params = _sql(by_week.values_list("week", "job_id", "passed"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT GROUPING(t.w), t.w, COUNT(DISTINCT t.j), COUNT(DISTINCT t.j) FILTER (WHERE NOT t.p), "
                           f"COUNT(*) FILTER (WHERE NOT t.p) FROM ({sql}) AS t(w, j, p) GROUP BY GROUPING SETS ((t.w), ())", params)
            found = cursor.fetchall()
        weekly = {_date(w): {"jobs": jobs, "failed_jobs": failed_jobs, "failed": failed}
                  for whole, w, jobs, failed_jobs, failed in found if not whole}
        overall = next(({"jobs": jobs, "failed_jobs": failed_jobs, "failed": failed}
                        for whole, _w, jobs, failed_jobs, failed in found if whole), None)
    else:
        weekly = {_date(row.pop("week")): row for row in by_week.values("week").annotate(**counts)}
        overall = checks.aggregate(**counts)

    def row(s):
        if not s or not s["jobs"]:
            return [0, 0, None, 0, None]
        first = s["jobs"] - s["failed_jobs"]
        return [s["jobs"], first, _pct(first, s["jobs"]), s["failed"], _pct(s["failed"], s["jobs"])]

    rows = _weekly(rng, weekly, row)
    total = row(overall)
    return Figure(
        key="qc", title="Quality check: first-pass yield and rework",
        about="Preparations checked in the range; first pass: no failed check in the range; rework rate: failed checks "
              "(each sends the preparation back to be remade) per 100 preparations checked.",
        columns=["Week of", "Preparations checked", "Passed first time", "First-pass yield %", "Failed checks", "Rework rate %"],
        rows=rows + [["Whole range", *total]],
        summary=[("First-pass yield %", total[2]), ("Rework rate %", total[4])],
        chart=_line([r[0] for r in rows], [("First-pass yield %", [r[3] for r in rows]), ("Rework rate %", [r[5] for r in rows])],
                    y="percent"),
    )


def clarifications(rng, tz, signed: dict | None = None) -> Figure:
    weekly = _by_week(signed_by_day(rng, tz) if signed is None else signed, ("orders", "asked_n"))
    question = (OrderEvent.objects.filter(order=OuterRef("order"), kind="clarification_requested", sequence__lt=OuterRef("sequence"))
                .order_by("-sequence").values("created_at")[:1])
    answers = (OrderEvent.objects.filter(kind="clarification_answered", created_at__gte=rng.start_at, created_at__lt=rng.end_at)
               .annotate(asked_at=Subquery(question, output_field=DateTimeField())))
    value = SecondsBetween(F("created_at"), F("asked_at"))
    found = percentiles(answers, value, group=TruncWeek("created_at", tzinfo=tz), overall=True)
    answer_all = found.pop(OVERALL, None)
    answer_weekly = {_date(k): v for k, v in found.items()}
    rows = []
    for week in rng.weeks:
        s, a = weekly.get(week) or {"orders": 0, "asked_n": 0}, answer_weekly.get(week)
        rows.append([_week_label(week), s["orders"], s["asked_n"], _pct(s["asked_n"], s["orders"]), a["n"] if a else 0,
                     _hours(a and a[0.5]), _hours(a and a[0.95])])
    orders_n, asked_n = sum(r[1] for r in rows), sum(r[2] for r in rows)
    total = [orders_n, asked_n, _pct(asked_n, orders_n), answer_all["n"] if answer_all else 0, _hours(answer_all and answer_all[0.5]),
             _hours(answer_all and answer_all[0.95])]
    return Figure(
        key="clarifications", title="Clarifications: how often, and how long answers take",
        about="Rate: orders signed in the range whose pharmacist asked the prescriber a question. Answer time: hours from the "
              "question to the prescriber's answer, for answers given in the range.",
        columns=["Week of", "Orders signed", "Asked to clarify", "Clarification rate %", "Answers", "Median answer (hours)",
                 "95th percentile answer (hours)"],
        rows=rows + [["Whole range", *total]],
        summary=[("Clarification rate %", total[2]), ("Median answer (hours)", total[4])],
        chart={**_line([r[0] for r in rows], [("Clarification rate %", [r[3] for r in rows])], y="percent", kind="bar"),
               "y2": "hours", "datasets2": [{"label": "Median answer (hours)", "data": [r[5] for r in rows]}]},
    )


def on_time(rng, tz, shipped: dict | None = None) -> Figure:
    weekly = _by_week(shipped_by_day(rng, tz) if shipped is None else shipped, ("parcels", "promised", "on_time"))

    def row(s):
        s = s or {"parcels": 0, "promised": 0, "on_time": 0}
        return [s["parcels"], s["promised"], s["on_time"], s["promised"] - s["on_time"], _pct(s["on_time"], s["promised"])]

    rows = _weekly(rng, weekly, row)
    sums = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    total = [*sums, sums[1] - sums[2], _pct(sums[2], sums[1])]
    return Figure(
        key="on_time", title="Shipped on the promised day",
        about="Parcels handed to the carrier in the range, against the ship date promised when the order was signed "
              "(or when a rush was accepted). On time: shipped on or before that day.",
        columns=["Week of", "Parcels shipped", "With a promise", "On time", "Late", "On time %"],
        rows=rows + [["Whole range", *total]], summary=[("On time %", total[4]), ("Late parcels", total[3])],
        chart=_line([r[0] for r in rows], [("On time %", [r[5] for r in rows])], y="percent", kind="bar"),
    )


def bud_at_delivery(rng, tz) -> Figure:
    # The days left were kept on each job when the carrier delivered it (fulfillment.tracking.delivery_facts): an
    # index-only scan of job_delivered_bud instead of joining 24,000 parcels, records and preparations a month.
    delivered = Job.objects.filter(delivered_at__gte=rng.start_at, delivered_at__lt=rng.end_at).order_by()
    extras = []
    for _label, low, high in BUD_BUCKETS:
        condition = " AND ".join([f"{{v}} >= {low}"] * (low is not None) + [f"{{v}} < {high}"] * (high is not None))
        extras.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
    found = percentiles(delivered, F("beyond_use_days_left"), ps=(0.5,), extras=extras).get(0)  # the buckets and the median in one pass
    counts = {label: (found or {}).get(f"extra{index}", 0) for index, (label, _low, _high) in enumerate(BUD_BUCKETS)}
    median = found if found and found["n"] else None
    n = sum(counts.values())
    under_7 = counts["Already past"] + counts["0–6 days"]
    rows = [[label, counts[label], _pct(counts[label], n)] for label, _low, _high in BUD_BUCKETS]
    return Figure(
        key="bud", title="Beyond-use days left at delivery",
        about="For preparations delivered in the range: the beyond-use date (day compounded + beyond-use days) minus the "
              "day the carrier delivered it.",
        columns=["Days left", "Preparations", "Share %"],
        rows=rows + [["Under 7 days", under_7, _pct(under_7, n)], ["All delivered", n, 100.0 if n else None]],
        summary=[("Preparations delivered", n), ("Median days left", None if median is None else round(float(median[0.5]), 1)),
                 ("Under 7 days %", _pct(under_7, n))],
        chart=_line([r[0] for r in rows], [("Preparations", [r[1] for r in rows])], y="preparations", kind="bar"),
    )


def per_prescriber(rng) -> Figure:
    found = list(Order.objects.filter(signed_at__gte=rng.start_at, signed_at__lt=rng.end_at).order_by()
                 .values("prescriber_id", "prescriber__user__first_name", "prescriber__user__last_name", "prescriber__user__username",
                         "prescriber__credentials", "clinic__name")
                 .annotate(n=Count("id")).order_by("-n", "prescriber_id")[:TOP])
    rows = []
    for r in found:
        name = f"{r['prescriber__user__first_name']} {r['prescriber__user__last_name']}".strip() or r["prescriber__user__username"]
        rows.append([f"{name}, {r['prescriber__credentials']}" if r["prescriber__credentials"] else name, r["clinic__name"], r["n"]])
    return Figure(
        key="prescribers", title="Orders per prescriber", about=f"Orders signed in the range, by the prescriber who signed (top {TOP}).",
        columns=["Prescriber", "Clinic", "Orders"], rows=rows,
        chart=_line([r[0] for r in rows[:10]], [("Orders", [r[2] for r in rows[:10]])], y="orders", kind="bar", horizontal=True),
    )


def formulation_label(base_name: str, ingredients) -> str:
    actives = ", ".join(f"{line.get('name', line.get('ingredient'))} {percent_text(line.get('percent'))}" for line in ingredients or [])
    return f"{base_name} with {actives}" if actives else f"{base_name}, base only"


KEPT_DAYS_LOCK = 7321001  # taken shared by the triggers of migration fulfillment.0018 whenever they forget a day
KEPT_DAYS_AT_ONCE = 31  # days made under the lock in one transaction: a cold year is twelve short ones, not one long one


def _runs(days: list, *, most: int):
    """`days` (ascending) as runs of consecutive days, each at most `most` long: each run is one span to count."""
    run: list = []
    for day in days:
        if run and ((day - run[-1]).days != 1 or len(run) == most):
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def _formulations(start_at, end_at, tz=None) -> QuerySet:
    """Preparations of the orders signed in [start_at, end_at) per base and ingredients (and per local day with `tz`)."""
    found = Preparation.objects.filter(order__signed_at__gte=start_at, order__signed_at__lt=end_at).order_by()
    if tz is not None:
        found = found.annotate(day=TruncDate("order__signed_at", tzinfo=tz)).values("day", "base_name", "ingredients")
    else:
        found = found.values("base_name", "ingredients")
    return found.annotate(n=Count("id"))


def _days_made(start_at, end_at, tz) -> dict:
    """{local day: {"formulations": [[base, ingredients, n], …], "seconds": {figure: [seconds, …]}}} of [start_at, end_at)."""
    made: dict = {}

    def day(key):
        return made.setdefault(key, {"formulations": [], "seconds": {kind: [] for kind in TURNAROUNDS}})

    for row in _formulations(start_at, end_at, tz):
        day(row["day"])["formulations"].append([row["base_name"], row["ingredients"], row["n"]])
    for kind, rows in TURNAROUNDS.items():
        queryset, stamp, value = rows(start_at, end_at)
        for key, seconds in (queryset.order_by().annotate(_day=TruncDate(stamp, tzinfo=tz), _seconds=value)
                             .filter(_seconds__isnull=False).values_list("_day", "_seconds")):
            day(key)["seconds"][kind].append(seconds)
    return made


def kept_days(rng: MetricsRange, tz, today: dt.date) -> dict:
    """Every day of the range as _days_made gives it: closed days from MetricsDay, made first for those not kept yet (a
    pass over each run of missing days, at most KEPT_DAYS_AT_ONCE long, under the lock the triggers take shared, so that
    no write commits between the read and the keeping; counted live and not kept while a writer holds it), today (and
    any later day) live, never kept. PostgreSQL only."""
    tzname = str(tz)
    closed = [day for day in rng.days if day < today]
    days = {day: {"formulations": formulations, "seconds": seconds} for day, formulations, seconds in
            MetricsDay.objects.filter(tz=tzname, day__gte=rng.start, day__lte=min(rng.end, today))
            .values_list("day", "formulations", "seconds") if day < today}
    for run in _runs([day for day in closed if day not in days], most=KEPT_DAYS_AT_ONCE):
        span = MetricsRange(start=run[0], end=run[-1])
        with transaction.atomic():
            # Never wait for the lock: a writer holding it shared would wait behind this page (its order row still
            # locked) and new writers behind them. Busy: these days are counted live this time and kept by a later read.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [KEPT_DAYS_LOCK])
                locked = cursor.fetchone()[0]
            found = _days_made(span.start_at, span.end_at, tz)
            empty = {"formulations": [], "seconds": {kind: [] for kind in TURNAROUNDS}}
            made = {day: found.get(day, empty) for day in run}
            if locked:
                MetricsDay.objects.bulk_create([MetricsDay(tz=tzname, day=day, formulations=kept["formulations"],
                                                           seconds=kept["seconds"]) for day, kept in made.items()],
                                               ignore_conflicts=True)
        days.update(made)
    if rng.end >= today:
        opened = MetricsRange(start=max(rng.start, today), end=rng.end)
        found = _days_made(opened.start_at, opened.end_at, tz)
        days.update({day: found.get(day, {"formulations": [], "seconds": {kind: [] for kind in TURNAROUNDS}})
                     for day in opened.days})
    return days


def per_formulation(rng, tz=None, days=None) -> Figure:
    if days is not None:
        counts: dict[tuple[str, str], list] = {}
        for base_name, ingredients, n in (line for day in rng.days for line in days[day]["formulations"]):
            entry = counts.setdefault((base_name, json.dumps(ingredients, sort_keys=True)), [base_name, ingredients, 0])
            entry[2] += n
        found = [{"base_name": b, "ingredients": i, "n": n}
                 for b, i, n in sorted(counts.values(), key=lambda e: (-e[2], e[0], json.dumps(e[1], sort_keys=True)))[:TOP]]
    else:
        found = list(_formulations(rng.start_at, rng.end_at).order_by("-n", "base_name")[:TOP])
    rows = [[formulation_label(r["base_name"], r["ingredients"]), r["n"]] for r in found]
    return Figure(
        key="formulations", title="Preparations per formulation",
        about=f"Preparations of orders signed in the range, by base and ingredients at their strengths (top {TOP}).",
        columns=["Formulation", "Preparations"], rows=rows,
        chart=_line([r[0] for r in rows[:10]], [("Preparations", [r[1] for r in rows[:10]])], y="preparations", kind="bar",
                    horizontal=True),
    )


METRICS_ROLES = frozenset({Role.PHARMACIST, Role.PHARMACY_ADMIN})


def metrics_compute(*, user, rng: MetricsRange, now: dt.datetime | None = None) -> list[Figure]:
    """Every figure for the range (queue age is as of `now`), for a pharmacist or the pharmacy's admin: the figures
    name prescribers and count every clinic's orders, so anyone else is refused whatever page or API asks."""
    if getattr(user, "role", None) not in METRICS_ROLES:
        raise Forbidden("Only a pharmacist sees the pharmacy's metrics.")
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    # The orders signed and the parcels shipped are each read once, by day, for the two figures that count them.
    signed, shipped = signed_by_day(rng, tz), shipped_by_day(rng, tz)
    # Closed days' formulations and turnaround times are kept (MetricsDay) and read back; today's are counted live.
    days = kept_days(rng, tz, timezone.localdate(now, timezone=tz)) if connection.vendor == "postgresql" else None
    return [orders_per_day(rng, tz, signed, shipped), queue_age(now), verification_turnaround(rng, tz, days),
            claim_to_release(rng, tz, days), qc_yield(rng, tz), clarifications(rng, tz, signed), on_time(rng, tz, shipped),
            bud_at_delivery(rng, tz), per_prescriber(rng), per_formulation(rng, tz, days)]


def metrics_empty(figures: list[Figure]) -> bool:
    """No order signed or shipped in the range (the page then says so above its empty charts)."""
    orders = next(f for f in figures if f.key == "orders")
    return orders.rows[-1][1] == 0 and orders.rows[-1][2] == 0
