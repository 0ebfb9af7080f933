"""In Chromium at 390 px (a phone): text pasted with an invisible NUL into the new-patient form comes back with
the error beside the field that held it and everything else as typed; nothing is saved; retyped, it saves."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders.models import Patient
from portal.form_input import NUL_MESSAGE
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_a_nul_in_the_patient_form_is_shown_beside_its_field_on_a_phone(page, live_server, rivera, password, ready):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in_browser(page, live_server.url, rivera.user, password, "/patients/new/")
    page.get_by_label("First name").fill("Maya")
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Date of birth").fill("1991-04-12")
    page.get_by_label("Address", exact=True).fill("1 Main St")
    page.get_by_label("City").fill("Oakland")
    page.locator("#state").select_option("CA")
    page.get_by_label("ZIP").fill("94601")
    # What a paste from another program can carry: an invisible NUL inside the text (no key types one).
    page.locator("#notes").evaluate("el => { el.value = 'Prefers fragrance-free\\u0000 products'; }")
    page.get_by_role("button", name="Save patient").click()

    expect(page.get_by_test_id("patient-errors")).to_contain_text("The patient was not saved: 1 field to fix")
    error = page.locator("#notes + p.field-error")
    expect(error).to_have_text(NUL_MESSAGE)
    expect(error).to_be_visible()
    expect(page.locator("#notes")).to_have_value("Prefers fragrance-free products")  # kept, without the NUL
    expect(page.get_by_label("First name")).to_have_value("Maya")
    expect(page.get_by_label("City")).to_have_value("Oakland")
    assert Patient.objects.count() == 0
    error.scroll_into_view_if_needed()
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "form-nul-error-390.png"), full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"

    page.get_by_role("button", name="Save patient").click()  # what is shown now is clean: it saves
    expect(page.locator(".messages")).to_contain_text("Saved Maya Lopez")
    assert Patient.objects.get().notes == "Prefers fragrance-free products"
