"""In Chromium, as dr.rivera would: an ingredient chosen by name, a reorder that reads "50 g", the order form on a
phone with a quiet console, and an idle session that warns, ends, and comes back in place without losing a word."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders import services
from orders.models import Order, Patient
from tests.twofa import app_device, code_now, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def maya(rivera, formulary):
    return Patient.objects.create(clinic=rivera.clinic, first_name="Maya", last_name="Lopez", date_of_birth=dt.date(1991, 4, 12),
                                  address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")


def signed(rivera, patient):
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=patient)
    body = {"patient_id": patient.public_id, "preparations": [{
        "base": "ointment-base", "quantity": Decimal("50.000"), "unit": "g", "route": "topical", "refills": 0,
        "directions": "Apply nightly.", "ingredients": [{"ingredient": "squalane", "percent": Decimal("5.0000")}], "exclusions": {}}]}
    return services.order_submit(user=rivera.user, body=body, source="web", draft=draft)


def watch_console(page):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_ingredient_by_name_reorder_in_plain_numbers_and_the_form_on_a_phone(page, live_server, rivera, maya, password, ready):
    problems = watch_console(page)
    base = live_server.url
    sign_in_browser(page, base, rivera.user, password)
    page.goto(f"{base}/orders/")
    page.get_by_role("button", name="New order").first.click()
    page.get_by_label("Patient", exact=True).select_option(label="Lopez, Maya · Apr 12, 1991")
    expect(page.get_by_test_id("ship-to")).to_be_visible()
    page.get_by_label("Base").select_option("spray-base-pf")
    expect(page.locator("label[for=prep-0-quantity]")).to_have_text("Quantity (mL)")  # the unit follows the base at once
    expect(page.get_by_label("Base").locator("option[value=spray-base-pf]")).to_have_text("Aqueous mist base, preservative-free (in mL)")
    page.get_by_label("Base").select_option("lotion-base-pf")
    expect(page.locator("label[for=prep-0-quantity]")).to_have_text("Quantity (g)")
    page.get_by_label("Quantity").fill("50")
    page.get_by_label("Ingredient 1 of preparation 1").press_sequentially("inulin", delay=30)
    option = page.get_by_role("option", name="Inulin")
    expect(option).to_contain_text("prebiotic")
    option.click()
    expect(page.get_by_label("Ingredient 1 of preparation 1")).to_have_value("Inulin")
    page.get_by_label("Strength 1 of preparation 1").fill("2 %")
    page.get_by_role("button", name="Add ingredient").click()
    page.get_by_label("Ingredient 2 of preparation 1").fill("pe9010")
    page.get_by_label("Strength 2 of preparation 1").fill("1")
    page.get_by_label("Directions").fill("Apply nightly.")
    expect(page.get_by_test_id("bud-0")).to_contain_text("days")
    draft = Order.objects.filter(status="draft", patient=maya).latest("created_at")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and draft.draft["preparations"][0]["ingredients"][-1].get("ingredient") != "pe9010":
        time.sleep(0.3)
        draft.refresh_from_db()
    expect(page.get_by_test_id("can-sign")).to_be_visible()
    assert [line["ingredient"] for line in draft.draft["preparations"][0]["ingredients"]] == ["inulin", "pe9010"]

    # a reorder reads "50 g" on the form, on the page she signs and on the order
    order = signed(rivera, maya)
    page.goto(f"{base}/orders/{order.public_id}/")
    expect(page.locator("main")).to_contain_text("50 g")
    page.get_by_role("button", name="Reorder").click()
    expect(page.get_by_label("Quantity")).to_have_value("50")
    expect(page.get_by_label("Strength 1 of preparation 1")).to_have_value("5")
    page.get_by_role("button", name="Review and sign").click()
    expect(page.get_by_test_id("review-prep-0")).to_contain_text("50 g")
    expect(page.locator("main")).to_contain_text("Squalane 5 %")
    expect(page.locator("main")).not_to_contain_text("E+")

    # on a phone: one column, nothing wider than the screen, the menu folded, and no console errors after swaps
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Back to the order").click()
    page.get_by_label("Quantity").fill("75")
    expect(page.get_by_test_id("can-sign")).to_be_visible()
    page.get_by_role("button", name="Add ingredient").click()
    expect(page.get_by_label("Ingredient 2 of preparation 1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("link", name="Patients")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Patients")).to_be_visible()
    assert problems == []


def test_an_idle_session_warns_then_comes_back_in_place_and_saves_what_was_typed(page, live_server, settings, rivera, maya,
                                                                                password, ready):
    settings.SESSION_COOKIE_AGE = 9  # the warning comes 3 s before the end
    problems = watch_console(page)
    base = live_server.url
    sign_in_browser(page, base, rivera.user, password)
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=maya)
    page.goto(f"{base}/orders/{draft.public_id}/edit/")

    warning = page.get_by_test_id("session-warning")
    expect(warning).to_be_visible(timeout=12_000)
    page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()

    expect(warning).to_contain_text("Your session has ended", timeout=15_000)
    time.sleep(1)
    page.get_by_label("Directions").fill("Apply a pea-sized amount at night.")
    reauth = page.get_by_test_id("session-reauth")
    expect(reauth).to_be_visible()
    expect(page.get_by_label("Directions")).to_have_value("Apply a pea-sized amount at night.")  # the form is as it was
    reauth.get_by_label("Password").fill(password)
    reauth.get_by_label("Code from your app").fill(code_now(app_device(rivera.user)))
    reauth.get_by_role("button", name="Sign in and continue").click()
    expect(reauth).to_be_hidden()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        draft.refresh_from_db()
        if draft.draft["preparations"][0].get("directions") == "Apply a pea-sized amount at night.":
            break
        time.sleep(0.3)
    assert draft.draft["preparations"][0]["directions"] == "Apply a pea-sized amount at night."
    expect(page.locator("#order-form")).to_be_visible()
    assert page.locator("#checks form").count() == 0  # no sign-in page injected into the checks
    assert [p for p in problems if "401" not in p] == []


def test_the_home_lists_a_question_and_a_draft_and_discard_removes_the_draft(page, live_server, rivera, maya, pharmacist, password,
                                                                           ready):
    asked = signed(rivera, maya)
    services.order_request_clarification(order=asked, by=pharmacist, question="Is 50 g enough for the 8-week course?")
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=maya)
    problems = watch_console(page)
    sign_in_browser(page, live_server.url, rivera.user, password)
    needs = page.get_by_test_id("needs-you")
    expect(needs).to_contain_text(asked.number)
    expect(needs).to_contain_text("Is 50 g enough for the 8-week course?")
    drafts = page.get_by_test_id("drafts")
    expect(drafts).to_contain_text(draft.number)
    expect(page.get_by_test_id("new-order")).to_be_visible()
    drafts.get_by_role("button", name=f"Discard draft {draft.number}").click()
    expect(page.locator(".messages")).to_contain_text(f"Draft {draft.number} is discarded.")
    expect(page.get_by_test_id("drafts")).not_to_contain_text(draft.number)
    assert not Order.objects.filter(pk=draft.pk).exists()
    needs.get_by_role("link", name="Answer the question").click()
    expect(page.get_by_test_id("question")).to_contain_text("Is 50 g enough")
    assert problems == []
