"""In Chromium: a prescriber makes an API token on their security page, uses it, and revokes it."""

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_make_use_and_revoke_a_token(page, live_server, rivera, password):
    sign_in_browser(page, live_server.url, rivera.user, password)
    page.get_by_role("link", name="Security").click()
    page.get_by_label("New token name").fill("Clinic EHR")
    page.get_by_role("button", name="Make a token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert len(token) >= 40
    assert _get(f"{live_server.url}/api/v1/orders/", token) == 200
    page.get_by_role("link", name="Back to your security page").click()
    row = page.get_by_test_id("tokens").locator("tr", has_text="Clinic EHR")
    expect(row).to_contain_text("active")
    expect(row).not_to_contain_text("never")  # its use is shown
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("is revoked")
    expect(page.get_by_test_id("tokens").locator("tr", has_text="Clinic EHR")).to_contain_text("revoked")
    assert _get(f"{live_server.url}/api/v1/orders/", token) == 401
