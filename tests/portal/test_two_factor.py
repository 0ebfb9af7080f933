"""Two-factor sign-in: a password alone opens nothing, codes are throttled, recovery codes work once,
and each user keeps their own API tokens (made once, listed with last use, revoked)."""

import re

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.twofa import app_device, code_now, sign_in

pytestmark = pytest.mark.django_db


def _password_only(client, user, password):
    assert client.post("/accounts/login/", {"username": user.username, "password": password}).status_code == 302
    return client


def test_a_password_alone_reaches_neither_pages_nor_the_api(client, rivera, password):
    _password_only(client, rivera.user, password)
    first = client.get("/orders/")
    assert first.status_code == 302 and first["Location"] == "/accounts/two-factor/setup/?next=%2Forders%2F"
    api = client.get("/api/v1/orders/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "second_factor_required"
    assert client.get("/admin/").status_code == 302


def test_enrolment_confirms_with_a_code_and_gives_ten_recovery_codes(client, rivera, password):
    _password_only(client, rivera.user, password)
    page = client.get("/accounts/two-factor/setup/").content.decode()
    assert 'class="qr"' in page and "otpauth" not in page  # the secret is drawn, not linked
    device = TOTPDevice.objects.get(user=rivera.user, confirmed=False)
    wrong = client.post("/accounts/two-factor/setup/", {"code": "12345"}).content.decode()
    assert "did not match" in wrong
    device.throttling_failure_count = 0
    device.save()
    done = client.post("/accounts/two-factor/setup/", {"code": code_now(device), "next": "/orders/"})
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10 and done["Cache-Control"] == "no-store"
    assert client.get("/orders/").status_code == 200
    assert TOTPDevice.objects.get(user=rivera.user).confirmed


def test_wrong_codes_make_the_next_try_wait(client, rivera, password):
    device = app_device(rivera.user)
    _password_only(client, rivera.user, password)
    right = code_now(device)
    wrong = "000000" if right != "000000" else "111111"
    assert "did not match" in client.post("/accounts/two-factor/verify/", {"code": wrong}).content.decode()
    refused = client.post("/accounts/two-factor/verify/", {"code": right}).content.decode()
    assert "Too many wrong codes" in refused
    assert client.get("/orders/").status_code == 302


def test_new_recovery_codes_replace_the_old_ones(client, rivera, password):
    sign_in(client, rivera.user, password)
    first = re.findall(r"<code>([a-z2-7]{8})</code>", client.post("/accounts/security/recovery-codes/").content.decode())
    second = re.findall(r"<code>([a-z2-7]{8})</code>", client.post("/accounts/security/recovery-codes/").content.decode())
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    client.logout()
    _password_only(client, rivera.user, password)
    assert "did not match" in client.post("/accounts/two-factor/verify/", {"code": first[0]}).content.decode()
    StaticDevice.objects.filter(user=rivera.user).update(throttling_failure_count=0)  # as if a second had passed
    client.post("/accounts/two-factor/verify/", {"code": second[0]})
    assert client.get("/orders/").status_code == 200


def test_tokens_are_made_once_listed_with_last_use_and_revoked(client, api_client, rivera, chen, password):
    sign_in(client, rivera.user, password)
    made = client.post("/accounts/security/tokens/", {"name": "Clinic EHR"}).content.decode()
    token = re.search(r'data-testid="new-token">([^<]+)<', made).group(1)
    listed = client.get("/accounts/security/").content.decode()
    assert "Clinic EHR" in listed and token not in listed and token[:8] in listed and "never" in listed
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/orders/").status_code == 200
    assert "never" not in client.get("/accounts/security/").content.decode()
    from portal.models import ApiToken

    stored = ApiToken.objects.get(name="Clinic EHR")
    # another user cannot revoke it
    other = sign_in(type(client)(), chen.user, password)
    assert other.post(f"/accounts/security/tokens/{stored.pk}/revoke/").status_code == 404
    assert api_client.get("/api/v1/orders/").status_code == 200
    client.post(f"/accounts/security/tokens/{stored.pk}/revoke/")
    assert api_client.get("/api/v1/orders/").status_code == 401
    page = client.get("/accounts/security/").content.decode()
    assert "revoked" in page
    # Made, last used and revoked as the portal writes moments (Dec 1, 2026 12:40), never ISO (walk-through wk).
    from django.utils import timezone

    from portal.numbers import day_text

    assert f"revoked {day_text(timezone.localdate())} " in page and timezone.localdate().isoformat() not in page


def test_a_token_needs_a_name(client, rivera, password):
    sign_in(client, rivera.user, password)
    page = client.post("/accounts/security/tokens/", {"name": "  "}, follow=True).content.decode()
    assert "Give the token a name" in page


def test_orders_per_minute_are_limited_per_account(api_as, rivera, chen, ready, settings):
    from tests.builders import submit

    settings.ORDER_CREATE_PER_MINUTE = 2
    submit(api_as, rivera)
    submit(api_as, rivera)
    import uuid

    from orders.models import Order

    before = Order.objects.count()
    body = {"patient": {"first_name": "A", "last_name": "B", "date_of_birth": "1990-01-01"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily."}]}
    refused = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_orders"
    assert Order.objects.count() == before
    submit(api_as, chen)  # another account is not affected


def test_moving_to_a_new_phone_retires_the_old_one(client, rivera, password):
    old = app_device(rivera.user)
    sign_in(client, rivera.user, password)
    assert "Move to a new phone" in client.get("/accounts/security/").content.decode()
    client.get("/accounts/two-factor/setup/")
    new = TOTPDevice.objects.get(user=rivera.user, confirmed=False)
    done = client.post("/accounts/two-factor/setup/", {"code": code_now(new), "next": "/accounts/security/"})
    assert done.status_code == 200 and "recovery" in done.content.decode()
    assert list(TOTPDevice.objects.filter(user=rivera.user).values_list("pk", flat=True)) == [new.pk]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
