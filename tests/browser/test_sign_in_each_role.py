"""In Chromium: every role signs in through the page and lands on its own home."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "persona, path, heading",
    [
        ("rivera", "/prescriber/", "Prescriber home"),
        ("pharmacist", "/pharmacy/", "Pharmacist home"),
        ("technician", "/pharmacy/bench/", "Pharmacy technician home"),
        ("pharmacy_admin", "/pharmacy/admin/", "Pharmacy admin home"),
    ],
)
def test_role_signs_in_and_lands_home(page, live_server, request, password, persona, path, heading):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("role-home")).to_have_text(heading)
    assert page.url == f"{live_server.url}{path}"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_shows_generic_message(page, live_server, rivera):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("rivera")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("did not match an active account")
