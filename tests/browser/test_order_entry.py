"""In Chromium: dr.rivera orders a cream for a fragrance-allergic patient, seeing the checks as she types."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order
from portal.demo import _demo_pharmacy, _demo_stock
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base, user, password):
    sign_in_browser(page, base, user, password)
    expect(page.get_by_test_id("role-home")).to_be_visible()


def test_order_entry_with_live_checks(page, browser, live_server, rivera, chen, technician, password, formulary):
    _demo_pharmacy()
    _demo_stock(technician)
    base = live_server.url
    sign_in(page, base, rivera.user, password)

    # a new patient, allergic to fragrance
    page.goto(f"{base}/patients/new/")
    page.get_by_label("First name").fill("Iris")
    page.get_by_label("Last name").fill("Moreau")
    page.get_by_label("Date of birth").fill("1987-06-15")
    page.get_by_label("Address", exact=True).fill("48 Vine St")
    page.get_by_label("City").fill("Oakland")
    page.get_by_label("State").select_option("CA")
    page.get_by_label("ZIP").fill("94607")
    page.get_by_label("Fragrance and essential oils").check()
    page.get_by_role("button", name="Save and start an order").click()

    # the order page: exclusions prefilled from the allergy
    expect(page.get_by_role("heading", name=re.compile("New order"))).to_be_visible()
    expect(page.locator('input[name="prep-0-exclude"][value="FRAGRANCE"]')).to_be_checked()
    page.get_by_label("Base").select_option("cream-base-pf")
    page.get_by_label("Quantity").fill("50")
    page.get_by_label("Directions").fill("Apply a thin layer at night.")
    page.get_by_label("Ingredient 1 of preparation 1").fill("lavender-oil")
    page.get_by_label("Strength 1 of preparation 1").fill("0.5")
    allergy = page.locator('#checks [data-code="PATIENT_ALLERGY"]').first
    expect(allergy).to_contain_text("Lavender")
    expect(page.get_by_test_id("cannot-sign")).to_be_visible()

    # remove it: the allergy findings go away; a niacinamide cream is 14 days in the fridge
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(page.locator('#checks [data-code="PATIENT_ALLERGY"]')).to_have_count(0)
    page.get_by_role("button", name="Add ingredient").click()
    page.get_by_label("Ingredient 1 of preparation 1").fill("niacinamide")
    page.get_by_label("Strength 1 of preparation 1").fill("4")
    expect(page.get_by_test_id("bud-0")).to_contain_text("14 days")
    expect(page.get_by_test_id("storage-0")).to_contain_text("refrigerator")

    # a preservative: 35 days at room temperature
    page.get_by_role("button", name="Add ingredient").click()
    page.get_by_label("Ingredient 2 of preparation 1").fill("pe9010")
    page.get_by_label("Strength 2 of preparation 1").fill("1")
    expect(page.get_by_test_id("bud-0")).to_contain_text("35 days")
    expect(page.get_by_test_id("can-sign")).to_be_visible()

    # review and sign
    page.get_by_role("button", name="Review and sign").click()
    expect(page.get_by_role("heading", name=re.compile("Review and sign"))).to_be_visible()
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="Sign and submit").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Submitted")
    order = Order.objects.get(patient__last_name="Moreau")
    assert order.status == "submitted" and order.preparations.get().beyond_use_days == 35

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_test_id("order-list")).to_contain_text(order.number)

    # dr.chen, another clinic: not found, and none of dr.rivera's patients or orders in her lists
    other = browser.new_context()
    chen_page = other.new_page()
    sign_in(chen_page, base, chen.user, password)
    response = chen_page.goto(f"{base}/orders/{order.public_id}/")
    assert response.status == 404
    chen_page.goto(f"{base}/patients/")
    expect(chen_page.locator("body")).not_to_contain_text("Moreau")
    chen_page.goto(f"{base}/orders/")
    expect(chen_page.locator("body")).not_to_contain_text(order.number)
    other.close()
