"""In Chromium: the formulary narrows as the prescriber types and ticks "free of"."""

import pytest
from playwright.sync_api import expect
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_results_as_you_type_and_free_of(page, live_server, rivera, password, formulary):
    sign_in_browser(page, live_server.url, rivera.user, password, "/formulary/")
    expect(page.get_by_test_id("result-count")).to_have_text("56 ingredients")

    page.get_by_label("Search").press_sequentially("ferment", delay=30)
    expect(page.get_by_test_id("result-count")).not_to_have_text("56 ingredients")
    count = page.locator("article.item").count()
    assert 0 < count < 56
    assert page.url.endswith("q=ferment") or "q=ferment" in page.url  # the filtered view is linkable

    page.get_by_label("Search").fill("")
    page.get_by_label("Search").press("Backspace")
    page.get_by_label("Parabens").check()
    expect(page.get_by_test_id("result-count")).to_have_text("53 ingredients free of PARABENS")
    expect(page.locator('article[data-code="methylparaben"]')).to_have_count(0)
