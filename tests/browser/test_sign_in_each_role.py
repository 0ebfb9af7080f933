"""In Chromium: every role enrols its authenticator on first sign-in, keeps recovery codes, lands on
its own home, and signs in again with a code."""

import re

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import expect

from tests.twofa import app_device, code_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code_for(secret: str) -> str:
    from base64 import b32decode

    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    return f"{TOTP(key).token():06d}"


@pytest.mark.parametrize(
    "persona, path, heading",
    [
        ("rivera", "/prescriber/", "Prescriber home"),
        ("pharmacist", "/pharmacy/", "Pharmacist home"),
        ("technician", "/pharmacy/bench/", "Pharmacy technician home"),
        ("pharmacy_admin", "/pharmacy/admin/", "Pharmacy admin home"),
    ],
)
def test_role_enrols_two_factor_then_signs_in_with_a_code(page, live_server, request, password, persona, path, heading):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()

    # first sign-in: pharmacy staff first confirm with the code emailed to them (a password alone shows no key)
    if persona != "rivera":
        expect(page.get_by_test_id("two-factor-email")).to_be_visible()
        expect(page.get_by_test_id("totp-secret")).to_have_count(0)
        emailed = re.search(r"is (\d{4}) (\d{4})\.", mail.outbox[-1].body)
        page.get_by_label("Code from the email").fill(emailed.group(1) + emailed.group(2))
        page.get_by_role("button", name="Continue").click()
    # then enrol, as a person with an authenticator app would (typing the key)
    expect(page.get_by_test_id("two-factor-setup")).to_be_visible()
    assert page.locator("svg.qr path").get_attribute("d").startswith("M")
    page.get_by_label("Code from the app").fill("000000" if _code_for(page.get_by_test_id("totp-secret").inner_text()) != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("two-factor-error")).to_be_visible()
    page.wait_for_timeout(1500)  # django-otp makes the next try wait a second after a wrong code
    page.get_by_label("Code from the app").fill(_code_for(page.get_by_test_id("totp-secret").inner_text()))
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{8}", c) for c in codes)
    page.get_by_test_id("recovery-continue").click()
    expect(page.get_by_test_id("role-home")).to_have_text(heading)
    assert page.url == f"{live_server.url}{path}"
    page.get_by_role("button", name="Sign out").click()

    # next sign-in: password, then a recovery code once, which cannot be used twice
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".messages")).to_contain_text("9 left")
    expect(page.get_by_test_id("role-home")).to_have_text(heading)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("two-factor-error")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(code_now(app_device(user)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("role-home")).to_have_text(heading)


def test_wrong_password_shows_generic_message(page, live_server, rivera):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("rivera")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("did not match an active account")
