"""In Chromium, at a desktop and a phone width: where the prescriber signs (the review page) and where the pharmacist
verifies (the verify page), the patient's allergies and what the preparation is free of (the allergens and the
preservatives excluded) are shown in plain words, the same on both pages, and nothing of the summary is cut off."""

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders import services
from orders.models import Order, Patient
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CODES = re.compile(r"\b[A-Z]{2,}(?:_[A-Z]+)+\b|\b[a-z]+_[a-z_]+\b")  # FRAGRANCE_ALLERGENS, preservative_free, mucosal_nonsterile
WIDTHS = (1366, 390)


def _summary(page) -> dict:
    safety = page.get_by_test_id("safety").first
    return {key: safety.get_by_test_id(key).inner_text() for key in ("allergies", "free-of", "route", "quantity", "base", "ingredients")}


def _fits(page, width: int) -> None:
    """The summary sits inside the page: no word of it is beyond the right edge, nothing scrolls sideways."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for key in ("allergies", "free-of"):
        box = page.get_by_test_id("safety").first.get_by_test_id(key).bounding_box()
        assert box and box["width"] > 0 and box["x"] + box["width"] <= width, (key, box)


def test_allergies_and_exclusions_where_the_prescriber_signs_and_the_pharmacist_verifies(page, live_server, rivera, pharmacist,
                                                                                         password, ready):
    from formulary.models import AllergenGroup

    ARTEFACTS.mkdir(exist_ok=True)
    patient = Patient.objects.create(clinic=rivera.clinic, first_name="Lena", last_name="Fischer", date_of_birth=dt.date(1978, 1, 27),
                                     address_line1="5 Oak", city="Austin", state="TX", postal_code="78701")
    patient.allergies.set(AllergenGroup.objects.filter(code__in=["TREE_NUTS", "LANOLIN"]))
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=patient, body={"preparations": [{
        "base": "cream-base-pf", "quantity": "50", "unit": "g", "route": "topical", "target_ph": "5.5", "refills": 0,
        "directions": "Apply a thin layer at night.", "ingredients": [{"ingredient": "niacinamide", "percent": "4"}],
        "exclusions": {"allergen_groups": ["FRAGRANCE", "LANOLIN"], "preservative_free": True}}]})

    # The prescriber, about to sign.
    sign_in_browser(page, live_server.url, rivera.user, password)
    shown = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/orders/{draft.public_id}/review/")
        expect(page.get_by_role("heading", name=re.compile("Review and sign"))).to_be_visible()
        shown[width] = _summary(page)
        expect(page.get_by_text("Lena Fischer, born Jan 27, 1978.")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Beyond-use: 14 days \([A-Z][a-z]{2} \d{1,2}, \d{4}\)"))).to_be_visible()
        _fits(page, width)
        page.get_by_test_id("safety").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTEFACTS / f"safety-review-{width}.png"), full_page=True)
    review = shown[1366]
    assert shown[390] == review
    assert review["allergies"] == "Lanolin / wool alcohols, Tree nuts" or sorted(review["allergies"].split(", ")) == \
        ["Lanolin / wool alcohols", "Tree nuts"]
    assert review["free-of"] == "Fragrance and essential oils, Lanolin / wool alcohols, preservatives · Do not substitute"
    assert review["route"] == "Topical (skin)" and review["quantity"] == "50 g" and review["ingredients"] == "Niacinamide 4 %"
    summary = page.get_by_test_id("safety").first.inner_text()
    assert not CODES.search(summary), CODES.search(summary)  # words, never codes
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="Sign and submit").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Submitted")
    order = Order.objects.get(pk=draft.pk)
    assert order.status == "submitted"

    # The pharmacist, verifying the signed order: the same words.
    page.context.clear_cookies()
    sign_in_browser(page, live_server.url, pharmacist, password)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/pharmacy/verify/{order.public_id}/")
        expect(page.get_by_test_id("safety").first).to_be_visible()
        expect(page.locator("p.lead")).to_contain_text("Lena Fischer, born Jan 27, 1978")  # as on the review page
        assert _summary(page) == review, width
        _fits(page, width)
        summary = page.get_by_test_id("safety").first.inner_text()
        assert not CODES.search(summary), CODES.search(summary)
        page.get_by_test_id("safety").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTEFACTS / f"safety-verify-{width}.png"), full_page=True)
    # The allergies stand out (bold, in the warning colour) where the approval is given.
    allergies = page.get_by_test_id("safety").first.get_by_test_id("allergies").locator("strong")
    expect(allergies).to_have_count(1)
    assert page.evaluate("getComputedStyle(document.querySelector('[data-testid=allergies] strong')).fontWeight") in ("700", "bold")
