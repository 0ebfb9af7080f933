"""Two-factor sign-in (TOTP, django-otp) for everyone who signs in to the pages, with recovery codes.

A password alone opens nothing but these pages: SecondFactorMiddleware sends a signed-in but
unverified session to enrol (first time) or to enter a code, and answers 403 to session calls on
the API. Codes are throttled by django-otp (growing delays after each wrong code). Recovery codes
are django-otp static tokens, each good once."""

from __future__ import annotations

from urllib.parse import urlencode

import qrcode
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.errors import error_json

RECOVERY_CODES = 10
APP_DEVICE = "Authenticator app"
RECOVERY_DEVICE = "Recovery codes"

# Reachable while signed in with a password only.
OPEN_PREFIXES = ("/accounts/two-factor/", "/accounts/logout/", "/accounts/login/", "/accounts/password-reset/",
                 "/accounts/reset/", "/static/", "/healthz", "/s/",
                 "/fhir/")  # FHIR reads no session at all: only API tokens (fulfillment/fhir/api.py)


def requires_second_factor(user) -> bool:
    return bool(user.is_authenticated and not user.is_verified())


class SecondFactorMiddleware:
    """After django_otp's OTPMiddleware: a session signed in with a password only reaches nothing
    but the two-factor pages (API token calls are not sessions: they pass)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if requires_second_factor(user) and not request.path.startswith(OPEN_PREFIXES):
            if request.path.startswith("/api/"):
                return error_json("second_factor_required", "Finish two-factor sign-in in the browser first, or use an API token.",
                                  status=403)
            target = "two-factor-verify" if user_has_device(user) else "two-factor-setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def pending_app_device(user) -> TOTPDevice:
    """The user's unconfirmed authenticator device, made on first call (its secret stays until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)


def qr_path(device: TOTPDevice) -> tuple[int, str]:
    """The enrolment QR code as (size, SVG path data): drawn by the template, no markup marked safe."""
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(device.config_url)
    code.make(fit=True)
    matrix = code.get_matrix()
    parts = [f"M{x} {y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark]
    return len(matrix), "".join(parts)


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    from base64 import b32encode

    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _clean(code: str) -> str:
    return "".join(code.split()).lower()


@transaction.atomic
def confirm_app_device(request, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm enrolment with the first code; returns the new recovery codes, or None if the code is wrong."""
    if not device.verify_token(_clean(code)):
        return None
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_renew(device.user)
    _verified(request, device)
    return codes


def recovery_codes_renew(user) -> list[str]:
    """Ten new recovery codes; any earlier ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


class Throttled(Exception):
    pass


def verify(request, code: str):
    """Sign this session's second factor in with the code (an authenticator code or a recovery code):
    the device that accepted it, or None. Raises Throttled while django-otp makes the user wait."""
    device = matching_device(request.user, code)
    if device is not None:
        _verified(request, device)
    return device


def matching_device(user, code: str):
    """The user's confirmed device that accepts this code (using it up), or None. Raises Throttled
    while django-otp makes the user wait after wrong codes. Shared by the page and the token exchange."""
    code = _clean(code)
    throttled = False
    # Six digits go to the app, anything else to the recovery codes (eight characters): a recovery code
    # must not count as a wrong app code (that would slow the next real one down).
    kind = TOTPDevice if len(code) == 6 and code.isdigit() else StaticDevice
    for device in devices_for_user(user, confirmed=True):
        if not isinstance(device, kind):
            continue
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            throttled = True
            continue
        if device.verify_token(code):
            return device
    if throttled:
        raise Throttled
    return None


def _verified(request, device) -> None:
    request.session.cycle_key()
    otp_login(request, device)


def signed_in_with(request, device) -> None:
    """This session passed its second factor with this device (signing in again in place)."""
    _verified(request, device)


def has_app_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()

