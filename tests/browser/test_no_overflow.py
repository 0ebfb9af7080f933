"""In Chromium, at 1366 and 390 px: the verification queue, the prescriber's order page (with the patient's status
link) and the job page stay within the window, even when a hold reason is one long unbroken word (walk #32–#34)."""

import os

import pytest

from fulfillment.holds import job_hold
from fulfillment.models import Job
from tests.builders import approve, submit
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("SHOTS_DIR", "")
WORD = "https://example.test/" + "unbroken" * 55  # 460 characters without a space, like a pasted link


def fits(page, name, width):
    page.set_viewport_size({"width": width, "height": 900})
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} at {width} px is {scroll} px wide"


def test_pages_stay_within_the_window(browser, live_server, api_as, rivera, pharmacist, technician, password, formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    for first in ("Ann", "Bea", "Cy"):  # a few rows in the queue
        submit(api_as, rivera, first=first)
    order = submit(api_as, rivera)
    approve(staff, order)
    job = Job.objects.get(preparation__order__public_id=order["id"])
    job_hold(job=job, by=pharmacist, reason=WORD)

    desk = browser.new_context(viewport={"width": 1366, "height": 900})
    page = desk.new_page()
    sign_in_browser(page, live_server.url, pharmacist, password, "/pharmacy/verify/")
    for width in (1366, 390):
        fits(page, "verify-queue", width)
    page.goto(f"{live_server.url}/pharmacy/jobs/{job.public_id}/")
    assert WORD in page.content()
    for width in (1366, 390):
        fits(page, "job", width)

    doctor = browser.new_context(viewport={"width": 1366, "height": 900})
    prescriber = doctor.new_page()
    sign_in_browser(prescriber, live_server.url, rivera.user, password, f"/orders/{order['id']}/")
    assert WORD in prescriber.content() and prescriber.get_by_test_id("patient-link-url").count() == 1
    for width in (1366, 390):
        fits(prescriber, "order", width)
    for context in (desk, doctor):
        context.close()
