"""On a phone-sized Chromium: the patient follows their order from the link."""

import pytest
from playwright.sync_api import expect

from orders.models import Order
from orders.patient_links import link_token, patient_link_current
from tests.builders import released_job
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_follows_the_order_then_the_link_is_revoked(browser, live_server, api_as, rivera, pharmacist, technician, password,
                                                            formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-PHONE-01"}, format="json")
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(f"{live_server.url}/s/{token}/")
    page.get_by_label("Date of birth").fill("1991-04-13")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dob-error")).to_have_text("That does not match our records.")
    page.get_by_label("Date of birth").fill("1991-04-12")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("greeting")).to_have_text("Hello Maya")
    timeline = page.get_by_test_id("timeline")
    for step in ("Prescription received", "Checked by the pharmacist", "Being made", "Quality check", "Shipped"):
        expect(timeline).to_contain_text(step)
    expect(page.get_by_test_id("tracking")).to_contain_text("SIM-PHONE-01")
    expect(page.get_by_test_id("tracking").get_by_role("link")).to_have_count(0)  # the simulated carrier has no page to link
    expect(page.get_by_test_id("expected-delivery")).to_contain_text("Expected delivery")
    expect(page.get_by_test_id("directions")).to_contain_text("Apply nightly.")
    expect(page.get_by_test_id("refills")).to_contain_text("No refills")
    expect(page.get_by_test_id("pharmacy")).to_contain_text("Northwind Compounding")
    expect(page.get_by_test_id("pharmacy").get_by_role("link", name="(813) 555-0140")).to_be_visible()
    expect(page.get_by_test_id("bud")).to_contain_text("Use by")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # made for the phone: no sideways scrolling

    doctor = browser.new_context()
    prescriber_page = doctor.new_page()
    sign_in_browser(prescriber_page, live_server.url, rivera.user, password, f"/orders/{order['id']}/")
    prescriber_page.get_by_role("button", name="Revoke the link").click()
    expect(prescriber_page.locator(".messages")).to_contain_text("no longer works")

    response = page.goto(f"{live_server.url}/s/{token}/")
    assert response.status == 404
    expect(page.get_by_test_id("not-found")).to_be_visible()
    phone.close()
    doctor.close()
