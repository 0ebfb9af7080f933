"""In Chromium: the pharmacy admin finds who touched a patient's order and exports it as CSV."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.builders import approve, submit
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_searches_a_patient_and_exports_csv(page, live_server, api_as, rivera, pharmacist, technician, pharmacy_admin, password,
                                                   formulary):
    from django.db import connection

    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    order = submit(api_as, rivera, first="Maya", last="Lopez")
    approve({"pharmacist": api_as(pharmacist)}, order)
    api_as(rivera.user).get(f"/api/v1/orders/{order['id']}/")  # a read

    sign_in_browser(page, live_server.url, pharmacy_admin, password)
    page.get_by_role("link", name="Audit", exact=True).click()
    page.get_by_label("Patient").fill("Maya Lopez")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("audit-patient")).to_contain_text("Lopez, Maya · born Apr 12, 1991")
    table = page.get_by_test_id("audit-rows")
    # Times as the portal writes them (Dec 1, 2026 12:47:31), never ISO; the table stays inside the page at 1366 and, one
    # block per entry, within a phone's width (it was 1090 px wide at 390).
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2}:\d{2}", table.locator("tbody tr td").first.inner_text())
    assert not re.search(r"\d{4}-\d{2}-\d{2}", table.inner_text())
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        box, card = table.bounding_box(), page.get_by_test_id("audit-form").bounding_box()
        assert box["x"] + box["width"] <= card["x"] + card["width"] + 1, f"the table pokes out of the page at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})
    expect(table.locator('tr[data-kind="access"]', has_text="rivera").first).to_be_visible()
    expect(table.locator('tr[data-kind="access"]').first).to_contain_text(pharmacy_admin.username)  # this search, newest
    if connection.vendor == "postgresql":  # change history comes from PostgreSQL triggers
        expect(table.locator('tr[data-kind="change"]').first).to_be_visible()
        expect(table).to_contain_text(pharmacist.username)

    with page.expect_download() as download:
        page.get_by_test_id("audit-csv").click()
    assert download.value.suggested_filename.startswith("audit-") and download.value.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["time_utc", "kind", "actor", "action"]
    assert any(row[1] == "access" and row[2] == "rivera" for row in rows[1:])
