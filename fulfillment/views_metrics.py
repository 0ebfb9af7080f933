"""The pharmacy's metrics page and its CSV, for pharmacists and the pharmacy admin (the range in the URL)."""

from __future__ import annotations

import csv
import datetime as dt
import re

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from fulfillment import metrics
from portal.access import role_required
from portal.models import Role

metrics_required = role_required(Role.PHARMACIST, Role.PHARMACY_ADMIN)


ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day_text(day: dt.date) -> str:
    """A date as people read it everywhere in the portal: "Sep 7, 2026" (the template's "M j, Y")."""
    return f"{day:%b} {day.day}, {day.year}"


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.date):
        return day_text(value)
    if isinstance(value, str) and ISO_DAY.match(value):  # a day row's key (the CSV keeps it as YYYY-MM-DD)
        return day_text(dt.date.fromisoformat(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _quick(today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    return [("last 7 days", today - dt.timedelta(days=6), today), ("last 30 days", today - dt.timedelta(days=29), today),
            ("last 90 days", today - dt.timedelta(days=89), today), ("last 12 months", today - dt.timedelta(days=364), today)]


def _zone_words(name: str) -> str:
    """The pharmacy's time zone as people say it: "America/New_York" → "New York"."""
    return name.rsplit("/", 1)[-1].replace("_", " ")


@metrics_required
def metrics_page(request):
    today = timezone.localdate()
    raw_from, raw_to = request.GET.get("from", ""), request.GET.get("to", "")
    context = {"quick": _quick(today), "tz_name": _zone_words(timezone.get_current_timezone_name()), "raw_from": raw_from[:40],
               "raw_to": raw_to[:40]}
    try:
        rng = metrics.metrics_range(raw_from=raw_from, raw_to=raw_to, today=today)
    except metrics.BadRange as exc:
        return render(request, "fulfillment/metrics.html", {**context, "error": exc.message}, status=400)
    figures = metrics.metrics_compute(user=request.user, rng=rng)
    for figure in figures:
        # Each cell carries its column's name: on a phone a wide table is shown as one small card per row.
        figure.display_rows = [{"cells": [{"value": _cell(v), "column": column} for v, column in zip(row, figure.columns)],
                                "link": figure.links.get(index), "total": row[0] == "Whole range"}
                               for index, row in enumerate(figure.rows)]
        figure.summary = [(label, _cell(value)) for label, value in figure.summary]
    return render(request, "fulfillment/metrics.html", {
        **context, "raw_from": rng.start.isoformat(), "raw_to": rng.end.isoformat(), "rng": rng, "figures": figures,
        "charts": {f.key: _chart_for_people(f.chart) for f in figures}, "empty": metrics.metrics_empty(figures),
    })


def _chart_for_people(chart: dict) -> dict:
    """The chart's axis labels in the same date style as the tables beside it."""
    return {**chart, "labels": [_cell(label) if isinstance(label, (str, dt.date)) else label for label in chart.get("labels", [])]}


@metrics_required
def metrics_csv(request):
    """Every table of the page, one after another: the title, the column names, the rows, a blank line."""
    try:
        rng = metrics.metrics_range(raw_from=request.GET.get("from", ""), raw_to=request.GET.get("to", ""))
    except metrics.BadRange as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pharmacy-metrics-{rng.start}-to-{rng.end}.csv"'
    writer = csv.writer(response)
    for figure in metrics.metrics_compute(user=request.user, rng=rng):
        writer.writerow([figure.title])
        writer.writerow(figure.columns)
        for row in figure.rows:
            writer.writerow(["" if value is None else value for value in row])
        writer.writerow([])
    return response
