"""F1 (issue 17, finding 1): `/admin/login/` had no lockout and no second factor: 11 wrong passwords
for `admin` then the right one signed in, and a staff account without a second factor was then
shown a fresh authenticator key, so the password alone took the superuser. The lockout also
counted the raw username while sign-in normalised it (`ｔech` signs in as `tech`).

Now the admin site signs in through the portal's page (lockout, then the second factor); a staff
account without a device reaches only enrolment, and enrolment after a password-only sign-in needs a
sign-in from the last minutes and, for staff, a code sent to the account's email address."""

import re
import time

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import two_factor
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
ATTACKER = "203.0.113.66"


def test_admin_login_is_the_portals_sign_in_with_its_lockout(client, pharmacy_admin, password):
    assert client.get("/admin/login/?next=/admin/")["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    # the admin's own form no longer exists: posting to it signs nobody in
    client.post("/admin/login/", {"username": pharmacy_admin.username, "password": password}, REMOTE_ADDR=ATTACKER)
    assert "_auth_user_id" not in client.session
    for attempt in range(10):
        wrong = client.post("/accounts/login/?next=/admin/", {"username": pharmacy_admin.username, "password": f"wrong-{attempt}"},
                            REMOTE_ADDR=ATTACKER)
        assert wrong.status_code == 200
    # the eleventh try, with the right password: refused, 429, not signed in
    locked = client.post("/accounts/login/?next=/admin/", {"username": pharmacy_admin.username, "password": password}, REMOTE_ADDR=ATTACKER)
    assert locked.status_code == 429 and "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_site_needs_the_second_factor(client, pharmacy_admin, password):
    client.post("/accounts/login/", {"username": pharmacy_admin.username, "password": password})
    assert "_auth_user_id" in client.session  # the password alone …
    assert client.get("/admin/")["Location"].startswith("/accounts/two-factor/setup/")  # … reaches only enrolment
    verified = sign_in(client, pharmacy_admin, password)
    assert verified.get("/admin/").status_code == 200


def test_staff_without_a_device_see_no_key_until_they_confirm_by_email(client, technician, password):
    technician.email = "tech@northwind.example"
    technician.save()
    client.post("/accounts/login/", {"username": technician.username, "password": password}, REMOTE_ADDR=ATTACKER)
    page = client.get("/accounts/two-factor/setup/")
    text = page.content.decode()
    assert page.status_code == 200 and "Confirm it is you" in text and "t…@northwind.example" in text
    assert "totp-secret" not in text and not TOTPDevice.objects.filter(user=technician).exists()  # no key made or shown
    assert mail.outbox[-1].to == ["tech@northwind.example"]
    code = re.search(r"is (\d{4}) (\d{4})\.", mail.outbox[-1].body)
    wrong = client.post("/accounts/two-factor/setup/", {"code": "00000000"}).content.decode()
    assert "did not match" in wrong and "totp-secret" not in wrong
    confirmed = client.post("/accounts/two-factor/setup/", {"code": code.group(1) + code.group(2)})
    assert confirmed.status_code == 302
    shown = client.get(confirmed["Location"]).content.decode()
    assert 'data-testid="totp-secret"' in shown


def test_enrolment_needs_a_fresh_sign_in(client, rivera, password):
    client.post("/accounts/login/", {"username": rivera.user.username, "password": password})
    session = client.session
    session[two_factor.PASSWORD_AT] = int(time.time()) - two_factor.ENROL_FRESH_SECONDS - 1
    session.save()
    stale = client.get("/accounts/two-factor/setup/")
    assert stale.status_code == 302 and stale["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session and not TOTPDevice.objects.filter(user=rivera.user).exists()


def test_the_lockout_counts_the_username_as_sign_in_reads_it(client, technician, password):
    """Ten tries spread over Unicode and case variants of `techie` lock `techie` itself."""
    variants = ["ｔｅｃｈｉｅ", "Techie", "TECHIE", "techie", "ｔechie"]
    for attempt in range(10):
        client.post("/accounts/login/", {"username": variants[attempt % len(variants)], "password": "wrong"}, REMOTE_ADDR=ATTACKER)
    locked = client.post("/accounts/login/", {"username": "techie", "password": password}, REMOTE_ADDR=ATTACKER)
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
