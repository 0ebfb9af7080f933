"""In Chromium: the pharmacist puts a job on hold from its page and resumes it; the patient, on a phone,
and the prescriber read why it waits."""


import pytest
from playwright.sync_api import expect

from fulfillment.models import Job
from tests.browser.helpers import patient_on_phone, shot
from tests.builders import approve, submit
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REASON = "Waiting for a new lot of niacinamide to arrive"


def test_hold_on_the_job_page_seen_by_patient_and_prescriber(browser, live_server, api_as, rivera, pharmacist, technician, password,
                                                             formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order = submit(api_as, rivera)
    approve(staff, order)
    job = Job.objects.get(preparation__order__public_id=order["id"])

    desk = browser.new_context(viewport={"width": 1366, "height": 900})
    page = desk.new_page()
    sign_in_browser(page, live_server.url, pharmacist, password, f"/pharmacy/jobs/{job.public_id}/")
    page.get_by_role("button", name="Put on hold").click()  # empty: the browser asks for a reason first
    expect(page.get_by_test_id("job-status")).to_have_text("Queued")
    page.get_by_label("Reason, in plain words").fill(REASON)
    page.get_by_role("button", name="Put on hold").click()
    expect(page.get_by_test_id("job-status")).to_have_text("On hold")
    expect(page.get_by_test_id("on-hold")).to_contain_text(REASON)
    expect(page.get_by_test_id("events")).to_contain_text(f"put on hold by Test Pharm: {REASON}")
    shot(page, "job-on-hold-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "job-on-hold-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    phone, patient = patient_on_phone(browser, live_server, order["id"])
    expect(patient.get_by_test_id("hold-reason")).to_have_text(f"On hold: {REASON}")
    expect(patient.get_by_test_id("timeline")).to_contain_text("On hold")
    shot(patient, "patient-on-hold-390")
    assert patient.evaluate("document.documentElement.scrollWidth") <= 390

    doctor = browser.new_context(viewport={"width": 1366, "height": 900})
    prescriber = doctor.new_page()
    sign_in_browser(prescriber, live_server.url, rivera.user, password, f"/orders/{order['id']}/")
    expect(prescriber.get_by_test_id("hold-reason")).to_have_text(f"On hold: {REASON}")
    expect(prescriber.get_by_test_id("events")).to_contain_text(f"put on hold by Test Pharm: {REASON}")
    shot(prescriber, "order-on-hold-1366")

    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("job-status")).to_have_text("Queued")
    expect(page.get_by_test_id("events")).to_contain_text("taken off hold by Test Pharm; queued again")
    patient.reload()
    expect(patient.get_by_test_id("hold-reason")).to_have_count(0)
    for context in (desk, phone, doctor):
        context.close()
