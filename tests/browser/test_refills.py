"""In Chromium: the patient requests a refill from the status page on a phone; the prescriber sees refills left,
the next due day and the fills on the preparation's page; the pharmacist asks for a renewal, and the prescriber
renews from the home page."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from fulfillment.models import Job
from orders.models import Order, RenewalRequest
from tests.browser.helpers import patient_on_phone, shot
from tests.builders import released_job
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
START = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc)


def test_patient_refill_on_a_phone_then_renewal(browser, live_server, api_as, rivera, pharmacist, technician, password, formulary,
                                                time_machine):
    from portal.demo import _demo_pharmacy, _demo_stock

    time_machine.move_to(START, tick=True)
    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=1, refill_interval_days=30)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-PHONE-RF"}, format="json")
    prep_id = order["preparations"][0]["id"]

    phone, patient = patient_on_phone(browser, live_server, order["id"])
    expect(patient.get_by_test_id("refills")).to_contain_text("Refills left: 1 of 1. The next can be made from Tuesday, December 22")
    expect(patient.get_by_test_id("refill-request")).to_have_count(0)  # too soon: no button
    expect(patient.get_by_test_id("auto-refill")).to_contain_text("refill every 30 days")
    shot(patient, "patient-auto-refill-390")
    phone.close()

    time_machine.move_to(START + dt.timedelta(days=22), tick=True)
    phone, patient = patient_on_phone(browser, live_server, order["id"])
    patient.get_by_role("button", name="Request a refill").click()
    expect(patient.get_by_test_id("refill-result")).to_contain_text("Refill requested")
    # Every fill, the latest first: the refill's steps, then the first fill still shipped with its tracking (walk #23).
    fills = patient.get_by_test_id("fill")
    expect(fills).to_have_count(2)
    expect(fills.nth(0).get_by_test_id("fill-title")).to_have_text("Refill 1 · Waiting to be made")
    expect(fills.nth(0).get_by_test_id("timeline")).to_contain_text("Refill 1 requested")
    expect(fills.nth(1).get_by_test_id("fill-title")).to_have_text("First fill · Shipped")
    expect(fills.nth(1).get_by_test_id("tracking")).to_contain_text("SIM-PHONE-RF")
    expect(patient.get_by_test_id("promise")).to_contain_text("Your refill is with the pharmacy")
    expect(patient.get_by_test_id("promise")).not_to_contain_text("expects to ship your order by")
    expect(patient.get_by_test_id("prep-status")).to_have_text("Waiting to be made")  # the words its refill uses
    expect(patient.get_by_test_id("refill-request")).to_have_count(0)
    expect(patient.get_by_test_id("refill-why-not")).to_have_count(0)  # the refill is on its way: nothing to explain
    shot(patient, "patient-refill-390")
    assert patient.evaluate("document.documentElement.scrollWidth") <= 390
    patient.set_viewport_size({"width": 1366, "height": 900})
    shot(patient, "patient-refill-1366")
    assert patient.evaluate("document.documentElement.scrollWidth") <= 1366
    refill_job = Job.objects.get(preparation__public_id=prep_id, fill=1)
    assert refill_job.status == "queued" and refill_job.preparation.refill_requests.get().source == "patient"

    doctor = browser.new_context(viewport={"width": 1366, "height": 900})
    prescriber = doctor.new_page()
    sign_in_browser(prescriber, live_server.url, rivera.user, password, f"/orders/{order['id']}/")
    # The refill asked for is counted among those left until it is released, and the page says so (walk-through wk2 #3).
    expect(prescriber.get_by_test_id("refills-line")).to_contain_text("Refills left: 1 of 1, counting the one being made now")
    prescriber.get_by_role("link", name="Refills and fills").click()
    expect(prescriber.get_by_test_id("fill-row")).to_have_count(2)
    expect(prescriber.get_by_test_id("fills")).to_contain_text("Refill 1")
    expect(prescriber.get_by_test_id("refill-refusal")).to_contain_text("The one refill of this prescription has been used or requested")
    expect(prescriber.get_by_test_id("refill-form")).to_have_count(0)  # nothing to ask for: no button
    shot(prescriber, "preparation-prescriber-1366")
    prescriber.set_viewport_size({"width": 390, "height": 844})
    shot(prescriber, "preparation-prescriber-390")
    assert prescriber.evaluate("document.documentElement.scrollWidth") <= 390
    prescriber.set_viewport_size({"width": 1366, "height": 900})

    desk = browser.new_context(viewport={"width": 1366, "height": 900})
    pharm = desk.new_page()
    sign_in_browser(pharm, live_server.url, pharmacist, password, f"/preparations/{prep_id}/")
    pharm.get_by_role("button", name="Ask the prescriber to renew").click()
    expect(pharm.locator(".messages")).to_contain_text("The prescriber has been asked to renew it")
    expect(pharm.get_by_test_id("renewal-pending")).to_be_visible()
    shot(pharm, "preparation-pharmacist-1366")

    prescriber.goto(f"{live_server.url}/prescriber/")
    renewal = prescriber.get_by_test_id("renewal")
    expect(renewal).to_contain_text("Maya Lopez")
    expect(renewal).to_contain_text("No refills left · asked by Test Pharm")
    shot(prescriber, "home-renewal-1366")
    prescriber.set_viewport_size({"width": 390, "height": 844})
    shot(prescriber, "home-renewal-390")
    assert prescriber.evaluate("document.documentElement.scrollWidth") <= 390
    prescriber.set_viewport_size({"width": 1366, "height": 900})
    renewal.get_by_role("button", name="Renew as it was").click()
    # The signing page, as for any order: nothing is signed until the attestation is ticked (walk #20).
    expect(prescriber.locator(".messages")).to_contain_text("tick the attestation and sign")
    expect(prescriber.get_by_text("I attest that I examined this patient")).to_be_visible()
    assert RenewalRequest.objects.get().status == "pending"
    shot(prescriber, "renewal-review-1366")
    prescriber.set_viewport_size({"width": 390, "height": 844})
    shot(prescriber, "renewal-review-390")
    assert prescriber.evaluate("document.documentElement.scrollWidth") <= 390
    prescriber.set_viewport_size({"width": 1366, "height": 900})
    prescriber.get_by_label("I attest that I examined this patient", exact=False).check()
    prescriber.get_by_role("button", name="Sign and submit").click()
    expect(prescriber.locator(".messages")).to_contain_text("is signed and on its way to the pharmacy")
    assert RenewalRequest.objects.get().status == "approved"
    assert Order.objects.filter(patient__first_name="Maya").count() == 2
    prescriber.goto(f"{live_server.url}/prescriber/")
    prescriber.get_by_test_id("new-order").click()
    expect(prescriber.get_by_label("Refill every (days)")).to_be_visible()
    shot(prescriber, "order-form-1366")
    prescriber.set_viewport_size({"width": 390, "height": 844})
    shot(prescriber, "order-form-390")
    for context in (phone, doctor, desk):
        context.close()


def test_patient_asks_for_a_renewal_on_a_phone(browser, live_server, api_as, rivera, pharmacist, technician, password, formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=0)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-PHONE-RN"}, format="json")
    phone, patient = patient_on_phone(browser, live_server, order["id"])
    expect(patient.get_by_test_id("renewal-request")).to_contain_text("This prescription has no refills. Your prescriber can renew it.")
    shot(patient, "patient-renewal-ask-390")
    patient.get_by_role("button", name="Ask my prescriber to renew it").click()
    expect(patient.get_by_test_id("renewal-pending")).to_have_text("Your prescriber has been asked to renew it.")
    shot(patient, "patient-renewal-asked-390")
    assert patient.evaluate("document.documentElement.scrollWidth") <= 390
    assert RenewalRequest.objects.get().source == "patient"
    phone.close()
