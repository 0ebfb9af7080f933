"""Signing in with the second factor in tests: a confirmed authenticator device per user, its current
code, and a test client session that has passed both factors."""

from __future__ import annotations

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def app_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def code_now(device: TOTPDevice) -> str:
    """The code the user's app shows now. Forgets the last code used, as a new time step would, so a
    test may sign the same user in twice within 30 seconds."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def sign_in(client, user, password):
    """Both factors for a Django test client: the password through Django, the device on the session."""
    assert client.login(username=user.username, password=password)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = app_device(user).persistent_id
    session.save()
    return client


def sign_in_browser(page, base: str, user, password, next_path: str = "") -> None:
    """Both factors in Chromium, as a person would: password page, then the code page."""
    device = app_device(user)
    page.goto(f"{base}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code", exact=True).fill(code_now(device))
    page.get_by_role("button", name="Continue").click()
