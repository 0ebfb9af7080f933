"""In Chromium: the pharmacist's metrics page draws a chart for every figure (canvas painted, nothing
refused by the content security policy), at desktop and phone widths, and an empty range says so."""

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAINTED = """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; }
  return [c.dataset.chart, c.width, c.height, n];
})"""


CLIPPED = """() => Array.from(document.querySelectorAll('.table-box')).map(b => [b.querySelector('table').dataset.table,
  b.scrollHeight, b.clientHeight]).filter(([, inner, outer]) => inner > outer + 1)"""
OVERFLOW = """() => Array.from(document.querySelectorAll('.table-box')).map(b => [b.querySelector('table').dataset.table,
  b.scrollWidth, b.clientWidth])"""
ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _charts_drawn(page):
    expect(page.locator("canvas[data-drawn='true']")).to_have_count(10)
    painted = page.evaluate(PAINTED)
    assert len(painted) == 10
    for key, width, height, pixels in painted:
        assert width > 100 and height > 100 and pixels > 200, (key, width, height, pixels)
    return painted


def test_charts_render_at_both_widths_and_an_empty_range_says_so(page, live_server, rivera, chen, pharmacist, technician, password,
                                                                   formulary):
    from bench.management.commands.generate_orders import Command

    call_command(Command(), orders=150, preparations=2, days=120, patients=40, batch=150, seed=3, stdout=io.StringIO())
    refused = []
    # Only what the content security policy refused (a 400 page also logs a console error of its own).
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    ARTEFACTS.mkdir(exist_ok=True)
    today = timezone.localdate()
    start = today - dt.timedelta(days=89)

    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in_browser(page, live_server.url, pharmacist, password)
    page.goto(f"{live_server.url}/pharmacy/metrics/?from={start}&to={today}")
    expect(page.get_by_role("heading", name="Pharmacy metrics")).to_be_visible()
    expect(page.get_by_test_id("empty")).to_have_count(0)
    busy = {key: pixels for key, _w, _h, pixels in _charts_drawn(page)}
    # Dates people read are in the portal's one style ("Sep 7, 2026"), in the tables and on the charts' axes alike.
    shown_text = page.locator("main").inner_text()
    assert not ISO_DAY.search(shown_text), ISO_DAY.search(shown_text)
    assert f"{today:%b} {today.day}, {today.year}" in page.locator('table[data-table="orders"]').inner_text()
    assert page.evaluate("document.querySelector('canvas[data-chart=\\'orders\\']').chart.data.labels[0]") == \
        f"{start:%b} {start.day}, {start.year}"
    overflow = page.evaluate(OVERFLOW)
    assert all(inner <= outer for _key, inner, outer in overflow), [o for o in overflow if o[1] > o[2]]
    # Every table in full: no box shorter than its rows (the last week's row and "Whole range" were cut), today's row shown.
    assert page.evaluate(CLIPPED) == []
    page.screenshot(path=str(ARTEFACTS / "metrics-1366.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _charts_drawn(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Every table fits inside its card: nothing cut off, nothing to scroll sideways (a wide one is a card per row).
    overflow = page.evaluate(OVERFLOW)
    assert len(overflow) == 10 and all(inner <= outer for _key, inner, outer in overflow), overflow
    last = page.locator('table[data-table="clarifications"] tbody tr').first.locator("td").last
    last.scroll_into_view_if_needed()
    box, card = last.bounding_box(), page.locator("section#clarifications").bounding_box()
    assert box["width"] > 0 and box["x"] + box["width"] <= card["x"] + card["width"] <= 390, (box, card)
    assert page.evaluate("getComputedStyle(document.querySelector('table[data-table=\\'clarifications\\'] td[data-label]'), '::before').content") \
        != "none"  # the column's name is shown beside each value
    assert page.evaluate(CLIPPED) == []
    page.screenshot(path=str(ARTEFACTS / "metrics-390.png"), full_page=True)

    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To (included)", exact=True).fill("2020-01-31")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("empty")).to_contain_text("No orders in this range")
    empty = {key: pixels for key, _w, _h, pixels in _charts_drawn(page)}  # axes and legends, no data
    assert empty["orders"] < busy["orders"]
    page.screenshot(path=str(ARTEFACTS / "metrics-empty.png"), full_page=True)

    page.get_by_label("From", exact=True).fill("2026-06-01")
    page.get_by_label("To (included)", exact=True).fill("2026-05-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("range-error")).to_contain_text("after it ends")
    assert not refused, refused
