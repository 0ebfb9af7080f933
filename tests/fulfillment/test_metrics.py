"""The pharmacy metrics: every figure on the page and in the API equals the same figure computed here,
independently, from the rows (Python over plain reads); the CSV holds the page's tables; bad ranges
answer 400 in words; prescribers and technicians are refused; an empty range is not an error."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import sqlite3
from collections import Counter, defaultdict
from html.parser import HTMLParser

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from fulfillment import metrics
from fulfillment.models import Job, QCResult, Shipment
from orders.models import Order, OrderEvent, Preparation
from portal.errors import Forbidden

pytestmark = pytest.mark.django_db


# --- An independent reckoning ---------------------------------------------------------------------

def pct(values, p):
    """Continuous percentile (linear interpolation between the two nearest ranks), as percentile_cont."""
    if not values:
        return None
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo = math.floor(pos)
    return v[lo] if lo + 1 >= len(v) else v[lo] + (v[lo + 1] - v[lo]) * (pos - lo)


def hours(seconds):
    return None if seconds is None else round(seconds / 3600, 1)


def share(part, whole):
    return round(100 * part / whole, 1) if whole else None


def day(t):
    return timezone.localtime(t).date()


def monday(t):
    d = day(t)
    return d - dt.timedelta(days=d.weekday())


def week_label(d):
    return f"{d:%b} {d.day}, {d.year}"


def expected(start: dt.date, end: dt.date, now: dt.datetime) -> dict:
    def inside(t):
        return t is not None and start <= day(t) <= end

    weeks = []
    w = start - dt.timedelta(days=start.weekday())
    while w <= end:
        weeks.append(w)
        w += dt.timedelta(days=7)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    orders = list(Order.objects.exclude(signed_at=None))
    shipments = list(Shipment.objects.prefetch_related("orders"))
    out = {}

    received = Counter(day(o.signed_at) for o in orders if inside(o.signed_at))
    shipped = defaultdict(set)
    for s in shipments:
        if inside(s.shipped_at):
            shipped[day(s.shipped_at)].update(o.pk for o in s.orders.all())
    rows = [[d.isoformat(), received[d], len(shipped[d])] for d in days]
    out["orders"] = rows + [["Whole range", sum(r[1] for r in rows), sum(r[2] for r in rows)]]

    rows = []
    for status, label in (("queued", "Queued"), ("compounding", "Compounding"), ("qc", "Quality check"), ("rework", "Rework"),
                          ("ready", "Ready to ship"), ("on_hold", "On hold")):
        jobs = list(Job.objects.filter(status=status))
        ages = [(now - j.created_at).total_seconds() for j in jobs]
        oldest = min(jobs, key=lambda j: (j.created_at, j.pk)) if jobs else None
        rows.append([label, len(jobs), hours(pct(ages, .5)), hours(pct(ages, .95)), hours(max(ages) if ages else None),
                     oldest.number if oldest else None])
    out["queue_age"] = rows

    def turnaround(pairs):  # [(stamp, seconds)]
        by_week = defaultdict(list)
        for stamp, seconds in pairs:
            by_week[monday(stamp)].append(seconds)
        rows = [[week_label(w), len(by_week[w]), hours(pct(by_week[w], .5)), hours(pct(by_week[w], .95))] for w in weeks]
        every = [s for _t, s in pairs]
        return rows + [["Whole range", len(every), hours(pct(every, .5)), hours(pct(every, .95))]]

    signed = {o.pk: o.signed_at for o in orders}
    approvals = [e for e in OrderEvent.objects.filter(kind="approved") if inside(e.created_at)]
    out["verification"] = turnaround([(e.created_at, (e.created_at - signed[e.order_id]).total_seconds()) for e in approvals])
    released = [j for j in Job.objects.exclude(verified_at=None).exclude(claimed_at=None) if inside(j.verified_at)]
    out["claim_to_release"] = turnaround([(j.verified_at, (j.verified_at - j.claimed_at).total_seconds()) for j in released])

    checks = [q for q in QCResult.objects.all() if inside(q.recorded_at)]

    def qc_row(items):
        jobs = {q.job_id for q in items}
        failed_jobs = {q.job_id for q in items if not q.passed}
        failed = sum(1 for q in items if not q.passed)
        if not jobs:
            return [0, 0, None, 0, None]
        return [len(jobs), len(jobs - failed_jobs), share(len(jobs - failed_jobs), len(jobs)), failed, share(failed, len(jobs))]

    out["qc"] = [[week_label(w), *qc_row([q for q in checks if monday(q.recorded_at) == w])] for w in weeks] + [
        ["Whole range", *qc_row(checks)]]

    events = list(OrderEvent.objects.all())
    asked_orders = {e.order_id for e in events if e.kind == "clarification_requested"}
    answers = []
    for e in events:
        if e.kind == "clarification_answered" and inside(e.created_at):
            question = max((q for q in events if q.order_id == e.order_id and q.kind == "clarification_requested"
                            and q.sequence < e.sequence), key=lambda q: q.sequence)
            answers.append((e.created_at, (e.created_at - question.created_at).total_seconds()))
    rows = []
    for w in weeks:
        week_orders = [o for o in orders if inside(o.signed_at) and monday(o.signed_at) == w]
        asked = sum(1 for o in week_orders if o.pk in asked_orders)
        times = [s for t, s in answers if monday(t) == w]
        rows.append([week_label(w), len(week_orders), asked, share(asked, len(week_orders)), len(times), hours(pct(times, .5)),
                     hours(pct(times, .95))])
    n, asked = sum(r[1] for r in rows), sum(r[2] for r in rows)
    every = [s for _t, s in answers]
    out["clarifications"] = rows + [["Whole range", n, asked, share(asked, n), len(every), hours(pct(every, .5)),
                                     hours(pct(every, .95))]]

    promised = {o.pk: o.promised_ship_date for o in orders}

    def on_time_row(items):  # (parcel, order) pairs: a parcel of several orders is measured against each order's promise
        with_promise = [(s, o) for s, o in items if promised.get(o)]
        good = sum(1 for s, o in with_promise if day(s.shipped_at) <= promised[o])
        return [len(items), len(with_promise), good, len(with_promise) - good, share(good, len(with_promise))]

    parcels = [(s, o.pk) for s in shipments if inside(s.shipped_at) for o in s.orders.all()]
    out["on_time"] = [[week_label(w), *on_time_row([p for p in parcels if monday(p[0].shipped_at) == w])] for w in weeks] + [
        ["Whole range", *on_time_row(parcels)]]

    left = []
    for job in Job.objects.exclude(shipment=None).select_related("shipment", "preparation", "record"):
        record = getattr(job, "record", None)
        if record is not None and inside(job.shipment.delivered_at):
            left.append(job.preparation.beyond_use_days - (day(job.shipment.delivered_at) - day(record.recorded_at)).days)
    buckets = [("Already past", None, 0), ("0–6 days", 0, 7), ("7–13 days", 7, 14), ("14–29 days", 14, 30), ("30–59 days", 30, 60),
               ("60–89 days", 60, 90), ("90 days or more", 90, None)]
    rows = []
    for label, low, high in buckets:
        count = sum(1 for d in left if (low is None or d >= low) and (high is None or d < high))
        rows.append([label, count, share(count, len(left))])
    under = sum(1 for d in left if d < 7)
    out["bud"] = rows + [["Under 7 days", under, share(under, len(left))], ["All delivered", len(left), 100.0 if left else None]]
    out["bud_median"] = None if not left else round(pct(left, .5), 1)

    counts = Counter(o.prescriber_id for o in orders if inside(o.signed_at))
    from orders.models import Prescriber

    names = {}
    for p in Prescriber.objects.select_related("user", "clinic"):
        name = f"{p.user.first_name} {p.user.last_name}".strip() or p.user.username
        names[p.pk] = ([f"{name}, {p.credentials}" if p.credentials else name, p.clinic.name])
    out["prescribers"] = [[*names[pk], n] for pk, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]

    preps = Counter()
    for p in Preparation.objects.select_related("order"):
        if inside(p.order.signed_at):
            preps[(p.base_name, json.dumps(p.ingredients, sort_keys=True))] += 1
    out["formulations"] = sorted([[metrics.formulation_label(base, json.loads(ingredients)), n]
                                  for (base, ingredients), n in preps.items()], key=lambda r: (-r[1], r[0]))[:20]
    return out


# --- Reading the page -------------------------------------------------------------------------------

class Tables(HTMLParser):
    """Every metric table's cells as text, by its data-table key."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-table" in attrs:
            self.current = self.tables.setdefault(attrs["data-table"], [])
        elif self.current is not None and tag == "tr":
            self.row = []
        elif self.row is not None and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row and self.current is not None:
                self.current.append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):  # a day: the CSV's ISO, the page's "Sep 7, 2026"
        day = dt.date.fromisoformat(value)
        return f"{day:%b} {day.day}, {day.year}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


@pytest.fixture
def history(rivera, chen, pharmacist, technician):
    from bench.management.commands.generate_orders import Command  # the bench app is installed only for benchmarks

    call_command(Command(), orders=400, preparations=2, days=150, patients=60, batch=200, seed=21, stdout=io.StringIO())


def _signed_in(client, user):
    from tests.conftest import PASSWORD
    from tests.twofa import sign_in

    return sign_in(client, user, PASSWORD)


def test_every_figure_equals_the_rows(history, client, api_as, pharmacist):
    today = timezone.localdate()
    start, end = today - dt.timedelta(days=100), today - dt.timedelta(days=3)
    query = f"?from={start}&to={end}"
    now = timezone.now() + dt.timedelta(seconds=5)
    with time_machine.travel(now, tick=False):
        want = expected(start, end, timezone.now())
        answer = api_as(pharmacist).get(f"/api/v1/metrics/{query}")
        page = _signed_in(client, pharmacist).get(f"/pharmacy/metrics/{query}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["from"] == start.isoformat() and body["to"] == end.isoformat() and body["empty"] is False
    figures = body["figures"]
    # Something to measure in every figure (the generator's year of history).
    assert want["orders"][-1][1] > 100 and want["orders"][-1][2] > 50
    assert want["qc"][-1][3] > 0, "no QC failures generated"
    assert want["clarifications"][-1][2] > 0 and want["clarifications"][-1][4] > 0
    assert want["bud"][-1][1] > 0 and want["on_time"][-1][3] > 0 and len(want["prescribers"]) == 2
    assert sum(r[1] for r in want["queue_age"]) > 0

    for key in ("orders", "queue_age", "verification", "claim_to_release", "qc", "clarifications", "on_time", "bud", "prescribers"):
        assert figures[key]["rows"] == want[key], key
    assert sorted(figures["formulations"]["rows"], key=lambda r: (-r[1], r[0])) == want["formulations"]
    median = next(s["value"] for s in figures["bud"]["summary"] if s["label"] == "Median days left")
    assert median == want["bud_median"]

    assert page.status_code == 200
    tables = Tables()
    tables.feed(page.content.decode())
    for key, rows in want.items():
        if key == "bud_median":
            continue
        page_rows = tables.tables[key][1:]  # after the header
        expect_rows = [[shown(v) for v in row] for row in rows]
        if key == "formulations":
            page_rows, expect_rows = sorted(page_rows), sorted(expect_rows)
        assert page_rows == expect_rows, key
    # The oldest queued job links to its page.
    oldest = want["queue_age"][0][5]
    if oldest:
        job = Job.objects.get(number=oldest)
        assert f'href="/pharmacy/jobs/{job.public_id}/"' in page.content.decode()


def test_csv_holds_the_page_tables(history, client, pharmacist):
    _signed_in(client, pharmacist)
    page = client.get("/pharmacy/metrics/?from=2026-01-01&to=2026-12-31")
    # The time zone in words, not its code "America/New_York" (walk-through wk #10).
    assert "days and hours are the pharmacy's (New York time)" in page.content.decode()
    assert "America/New_York" not in page.content.decode()
    tables = Tables()
    tables.feed(page.content.decode())
    download = client.get("/pharmacy/metrics.csv?from=2026-01-01&to=2026-12-31")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert "pharmacy-metrics-2026-01-01-to-2026-12-31.csv" in download["Content-Disposition"]
    sections = [[]]
    for row in csv.reader(io.StringIO(download.content.decode())):
        if row:
            sections[-1].append(row)
        else:
            sections.append([])
    sections = [s for s in sections if s]
    assert len(sections) == len(tables.tables) == 10
    for section, (key, table) in zip(sections, tables.tables.items()):
        _title, header, *rows = section
        assert header == table[0], key
        assert [[shown(_number(c)) for c in row] for row in rows] == table[1:] or (not rows and table[1:][0][0] == "None in this range."), key


def _number(text: str):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


@pytest.mark.parametrize("query, words", [
    ("?from=2026-06-01&to=2026-05-01", "after it ends"),
    ("?from=2023-01-01&to=2026-01-01", "more than two years"),
    ("?from=2026-13-01&to=2026-12-31", "is not a date"),
    ("?from=yesterday", "is not a date"),
])
def test_bad_ranges_answer_400_in_words(client, api_as, pharmacist, query, words):
    answer = api_as(pharmacist).get(f"/api/v1/metrics/{query}")
    assert answer.status_code == 400 and words in answer.json()["error"]["message"]
    assert answer.json()["error"]["code"] == "bad_range"
    page = _signed_in(client, pharmacist).get(f"/pharmacy/metrics/{query}")
    assert page.status_code == 400 and words in page.content.decode()
    assert client.get(f"/pharmacy/metrics.csv{query}").status_code == 400


def test_two_years_exactly_is_allowed(api_as, pharmacist):
    assert api_as(pharmacist).get("/api/v1/metrics/?from=2025-01-01&to=2026-12-31").status_code == 200
    assert api_as(pharmacist).get("/api/v1/metrics/?from=2024-12-31&to=2026-12-31").status_code == 400


def test_prescribers_and_technicians_are_refused(client, api_as, rivera, technician, pharmacy_admin):
    for user in (rivera.user, technician):
        assert api_as(user).get("/api/v1/metrics/").status_code == 403
        c = type(client)()
        _signed_in(c, user)
        assert c.get("/pharmacy/metrics/").status_code == 403
        assert c.get("/pharmacy/metrics.csv").status_code == 403
    assert api_as(pharmacy_admin).get("/api/v1/metrics/").status_code == 200
    assert type(client)().get("/api/v1/metrics/").status_code == 401  # signed out: asked to sign in, not refused
    # the read itself refuses them too, whatever page or endpoint would ask (issue 14: reads take the caller)
    rng = metrics.metrics_range(raw_from="2026-11-01", raw_to="2026-11-30")
    for user in (rivera.user, technician, None):
        with pytest.raises(Forbidden):
            metrics.metrics_compute(user=user, rng=rng)
    assert metrics.metrics_compute(user=pharmacy_admin, rng=rng)


def test_an_empty_range_shows_empty_charts(client, api_as, pharmacist, rivera):
    answer = api_as(pharmacist).get("/api/v1/metrics/?from=2020-01-01&to=2020-01-31")
    assert answer.status_code == 200 and answer.json()["empty"] is True
    assert answer.json()["figures"]["orders"]["rows"][-1] == ["Whole range", 0, 0]
    page = _signed_in(client, pharmacist).get("/pharmacy/metrics/?from=2020-01-01&to=2020-01-31")
    html = page.content.decode()
    assert page.status_code == 200 and "No orders in this range" in html
    assert html.count("<canvas") == 10 and 'id="metrics-charts"' in html


def test_sqlite_percentile_matches_percentile_cont():
    """The SQLite fallback's SQL (window functions) against the interpolation percentile_cont does."""
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0, 3.5, 8.9, 7.9, 0.5]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE x (g INTEGER, v REAL)")
    db.executemany("INSERT INTO x VALUES (?, ?)", [(i % 2, v) for i, v in enumerate(values)] + [(7, 42.0)])
    got = {row[0]: row for row in db.execute(metrics.percentile_sql("sqlite", "SELECT g, v FROM x", (0.5, 0.95, 0.1)))}
    for group in (0, 1):
        mine = [v for i, v in enumerate(values) if i % 2 == group]
        n, biggest, p50, p95, p10 = got[group][1:]
        assert n == len(mine) and biggest == max(mine)
        for p, value in ((0.5, p50), (0.95, p95), (0.1, p10)):
            assert value == pytest.approx(pct(mine, p))
    assert got[7][1:] == (1, 42.0, 42.0, 42.0, 42.0)


def test_the_navigation_links_the_metrics_page_for_those_who_may_open_it(client, rivera, technician, pharmacist,
                                                                         pharmacy_admin):
    """Walk #35: the page was reachable only by typing its address. The nav links it for pharmacists and the
    pharmacy admin, and not for those the page refuses."""
    for user, linked in ((pharmacist, True), (pharmacy_admin, True), (technician, False), (rivera.user, False)):
        c = type(client)()
        home = _signed_in(c, user).get("/")
        if home.status_code in (301, 302):
            home = c.get(home["Location"])
        assert home.status_code == 200
        assert ('href="/pharmacy/metrics/"' in home.content.decode()) is linked, user


def test_a_formulation_is_named_with_its_strengths_as_people_write_them():
    """The strengths come from the stored JSON as floats (4.0): the page writes '4 %' as every other page does."""
    assert metrics.formulation_label("Cream base", [{"name": "Niacinamide", "percent": 4.0}, {"name": "Panthenol", "percent": 0.50}]) \
        == "Cream base with Niacinamide 4 %, Panthenol 0.5 %"
