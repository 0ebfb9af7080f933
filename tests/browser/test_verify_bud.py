"""In Chromium: a pharmacist assigns a beyond-use date with its citation on the verify page; one past a
lot's expiry is refused with what was typed still in the form."""

import pytest
from playwright.sync_api import expect

from orders.models import Preparation
from tests.builders import submit
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CITATION = "Supplier stability report SR-2291 (HPLC, 25 °C / 60 % RH, 6 months), 2025"


def test_assign_a_beyond_use_date_on_the_verify_page(page, live_server, api_as, rivera, pharmacist, password, ready):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    sign_in_browser(page, live_server.url, pharmacist, password, f"/pharmacy/verify/{order['id']}/")
    bud = page.get_by_test_id("bud-1")
    bud.get_by_text("Assign a beyond-use date other than the table's 35 days").click()
    bud.get_by_label("Days from the compounding date").fill("400")
    bud.get_by_label("Citation").fill(CITATION)
    bud.get_by_label("Reason").fill("Six-month study on this formula in this jar")
    bud.get_by_role("button", name="Assign this beyond-use date").click()

    expect(page.get_by_text("The beyond-use date was not saved:")).to_be_visible()
    expect(page.get_by_text("a beyond-use date is never later than the expiry of a component")).to_be_visible()
    bud = page.get_by_test_id("bud-1")
    expect(bud.get_by_label("Citation")).to_have_value(CITATION)  # kept, and the form is open on it
    bud.get_by_label("Days from the compounding date").fill("120")
    bud.get_by_role("button", name="Assign this beyond-use date").click()

    expect(page.get_by_text("Beyond-use period of preparation 1 set to 120 days.")).to_be_visible()
    expect(page.get_by_test_id("bud-1")).to_contain_text("Beyond-use period assigned: 120 days from compounding per " + CITATION)
    expect(page.get_by_test_id("bud-1")).to_contain_text("the USP <795> table gives 35 days")
    prep = Preparation.objects.get(order__public_id=order["id"])
    assert prep.assigned_bud_days == 120 and prep.bud_citation == CITATION
