"""In Chromium: the compounding record page of a job: open with what it lacks and a deviation recorded there; the
pharmacist releases from the job page; the record shows frozen with its hash and its PDF opens. 1366 and 390 px
screenshots go to var/screens/."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from fulfillment.models import CompoundingRecord
from fulfillment.records import record_pdf_render
from tests.builders import claimed_job, record_body
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"


def _shots(page, name):
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENS / f"record-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_record_page_from_open_to_frozen(page, live_server, api_as, rivera, staff, pharmacist, password, ready):
    order, job = claimed_job(api_as, rivera, staff)
    body = record_body(job["id"])
    body["actual_yield_grams"] = "47.0"
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", body, format="json")
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json")
    sign_in_browser(page, live_server.url, pharmacist, password, f"/pharmacy/jobs/{job['id']}/compounding-record/")
    expect(page.get_by_test_id("record-state")).to_have_text("Open")
    expect(page.get_by_test_id("record-missing")).to_contain_text("the reason for the yield of 89.52 %")
    _shots(page, "open")

    page.get_by_label("What deviated").fill("Yield 89.5 %")
    page.get_by_label("Reason").fill("Cream left on the mortar walls; the fill was checked at 50 g")
    page.get_by_role("button", name="Record the deviation").click()
    expect(page.get_by_text("Deviation recorded with its reason.")).to_be_visible()
    expect(page.get_by_test_id("record-deviations")).to_contain_text("Cream left on the mortar walls")

    page.goto(f"{live_server.url}/pharmacy/jobs/{job['id']}/")
    expect(page.get_by_test_id("job-mfr")).to_contain_text("Made from master formulation record MFR-")
    _shots(page, "job")
    page.get_by_role("button", name="Verify and release").click()
    # The release is saved (the page says so) before we leave: going at once could cancel the post on its way.
    expect(page.get_by_text("verified and ready to ship.")).to_be_visible()
    page.goto(f"{live_server.url}/pharmacy/jobs/{job['id']}/compounding-record/")
    expect(page.get_by_test_id("record-state")).to_have_text("Released and frozen")
    record_pdf_render(record_id=CompoundingRecord.objects.get(job__public_id=job["id"]).pk)  # the worker's task
    page.reload()
    record = CompoundingRecord.objects.get(job__public_id=job["id"])
    expect(page.get_by_test_id("record-hash")).to_have_text(record.pdf_sha256)
    expect(page.get_by_test_id("record-mfr")).to_contain_text(f"{record.mfr_code} v1")
    _shots(page, "frozen")
    with page.expect_response(lambda r: r.url.endswith("compounding-record.pdf")) as info:
        page.evaluate("url => fetch(url)", f"/pharmacy/jobs/{job['id']}/compounding-record.pdf")
    assert info.value.headers["x-content-sha256"] == record.pdf_sha256
