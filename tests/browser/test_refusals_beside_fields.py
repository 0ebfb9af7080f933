"""In Chromium at 1366 and 390 px: a rush asked without a reason, a renewal denied without one and a new patient with
a future date of birth are refused beside the field (walk-through 2026-12-01 #21, #37, #38), said once, with what was
typed kept, and nothing scrolls sideways."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders.models import Patient, RenewalRequest
from tests.builders import released_job, submit
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTHS = (1366, 390)


def _fits(page, width):
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width} px ({scroll} px)"


def _shot(page, name):
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_rush_and_renewal_deny_refused_beside_the_reason(browser, live_server, api_as, rivera, pharmacist, technician, password,
                                                         formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    open_order = submit(api_as, rivera, first="Ana")
    order, job = released_job(api_as, rivera, staff, refills=0)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-DENY-01"}, format="json")
    renewal = staff["pharmacist"].post(f"/api/v1/preparations/{order['preparations'][0]['id']}/renewal-requests/", {}, format="json")
    assert renewal.status_code == 201, renewal.json()
    renewal_id = renewal.json()["id"]
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in_browser(page, live_server.url, rivera.user, password)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/orders/{open_order['id']}/")
        page.get_by_text("Ask for rush").click()
        page.get_by_label("Why is it urgent?").fill("   ")
        page.get_by_role("button", name="Ask the pharmacy to rush it").click()
        error = page.locator("#err-rush-reason")
        expect(error).to_have_text("Say why the order is urgent: the pharmacist decides on it.")
        expect(error).to_be_visible()
        expect(page.get_by_label("Why is it urgent?")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".messages")).to_have_count(0)  # not at the top as well
        _fits(page, width)
        _shot(page, f"rush-refused-{width}")

        page.goto(f"{live_server.url}/prescriber/")
        card = page.get_by_test_id("renewal")
        card.locator("input[name=reason]").fill("  ")
        card.get_by_role("button", name="Deny").click()
        error = page.locator(f"#err-deny-{renewal_id}")
        expect(error).to_have_text("Say why you deny the renewal: the pharmacy and the patient are told.")
        expect(error).to_be_visible()
        expect(page.locator(".messages")).to_have_count(0)
        assert page.get_by_text("Say why you deny the renewal").count() == 1
        _fits(page, width)
        error.scroll_into_view_if_needed()
        _shot(page, f"deny-refused-{width}")
    assert RenewalRequest.objects.get(public_id=renewal_id).status == "pending"
    context.close()


def test_a_future_birth_date_is_said_with_the_other_errors(page, live_server, rivera, password, ready):
    sign_in_browser(page, live_server.url, rivera.user, password)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/patients/new/")
        page.get_by_label("First name").fill("Maya")
        page.get_by_label("Last name").fill("Lopez")
        page.get_by_label("Date of birth").fill("2099-05-05")
        page.get_by_label("Address", exact=True).fill("1 Main St")
        page.get_by_label("City").fill("Oakland")
        page.get_by_label("ZIP").fill("94601")  # no state chosen: two errors at once
        page.get_by_role("button", name="Save patient").click()
        expect(page.locator("#err-date_of_birth")).to_have_text("The date of birth cannot be in the future.")
        expect(page.locator("#err-state")).to_be_visible()
        expect(page.get_by_label("Date of birth")).to_have_value("2099-05-05")
        _fits(page, width)
        _shot(page, f"patient-future-dob-{width}")
    assert Patient.objects.count() == 0


def test_an_empty_tracking_number_is_said_once_beside_the_field(browser, live_server, api_as, rivera, pharmacist, technician, password,
                                                                formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    _order, job = released_job(api_as, rivera, staff)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in_browser(page, live_server.url, technician, password)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/pharmacy/jobs/{job['id']}/")
        page.get_by_label("Tracking number").fill("")
        page.get_by_role("button", name="Ship", exact=True).click()
        error = page.locator("#err-tracking_number")
        expect(error).to_have_text("Enter the carrier's tracking number: 6–40 letters, digits or dashes, without spaces.")
        expect(page.locator(".messages")).to_have_count(0)
        assert page.get_by_text("6–40 letters, digits or dashes").count() == 1
        _fits(page, width)
        error.scroll_into_view_if_needed()
        _shot(page, f"ship-refused-{width}")
    context.close()
