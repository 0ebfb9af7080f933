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



# --- Enrolment after a password-only sign-in ----------------------------------------------------
# Whoever holds only a password must not be shown a new authenticator key (trust on first use would
# hand them the account). So a first enrolment needs a sign-in from the last few minutes, and staff
# (pharmacy roles, admin-site users) must also type a code sent to their email address.

PASSWORD_AT = "password_signed_in_at"
ENROL_FRESH_SECONDS = 10 * 60
ENROL_EMAIL = "enrol_email"
ENROL_EMAIL_SECONDS = 15 * 60
ENROL_EMAIL_TRIES = 5
ENROL_EMAILS_PER_WINDOW = 3


def remember_sign_in(sender, request, user, **kwargs) -> None:
    """user_logged_in: note when the password was given (portal.apps connects it)."""
    if request is not None and hasattr(request, "session"):
        import time

        request.session[PASSWORD_AT] = int(time.time())


def signed_in_recently(request) -> bool:
    import time

    return time.time() - request.session.get(PASSWORD_AT, 0) <= ENROL_FRESH_SECONDS


def needs_email_confirmation(user) -> bool:
    from portal.models import PHARMACY_ROLES

    return user.role in PHARMACY_ROLES or user.is_staff or user.is_superuser


def _code_hash(request, code: str) -> str:
    import hashlib
    import hmac

    from django.conf import settings

    key = f"{settings.SECRET_KEY}:{request.user.pk}:enrol-email".encode()
    return hmac.new(key, _clean(code).encode(), hashlib.sha256).hexdigest()


def email_confirmed(request) -> bool:
    state = request.session.get(ENROL_EMAIL) or {}
    return state.get("confirmed") == request.user.pk


def enrol_email_send(request) -> bool:
    """Email a one-time confirmation code to the signed-in user; False if they asked too often."""
    import secrets
    import time

    from django.conf import settings
    from django.core.mail import send_mail

    from portal import ratelimit

    user = request.user
    if ratelimit.hit("enrol-email", str(user.pk), window=ENROL_EMAIL_SECONDS) > ENROL_EMAILS_PER_WINDOW:
        return False
    code = f"{secrets.randbelow(10**8):08d}"
    request.session[ENROL_EMAIL] = {"hash": _code_hash(request, code), "at": int(time.time()), "tries": 0}
    send_mail(
        "Your code to set up two-factor sign-in",
        f"Hello {user.get_short_name() or user.username},\n\n"
        f"Your confirmation code to set up two-factor sign-in to the portal is {code[:4]} {code[4:]}.\n"
        f"It works for {ENROL_EMAIL_SECONDS // 60} minutes, in the browser where you signed in.\n\n"
        "If you did not just sign in, someone else has your password: reset it now and tell your pharmacy admin.\n",
        settings.DEFAULT_FROM_EMAIL, [user.email])
    return True


def enrol_email_pending(request) -> bool:
    import time

    state = request.session.get(ENROL_EMAIL) or {}
    return bool(state.get("hash")) and time.time() - state.get("at", 0) <= ENROL_EMAIL_SECONDS and state.get("tries", 0) < ENROL_EMAIL_TRIES


def enrol_email_check(request, code: str) -> bool:
    """Check the emailed code (at most ENROL_EMAIL_TRIES tries per code); True confirms this session."""
    import hmac

    if not enrol_email_pending(request):
        return False
    state = dict(request.session[ENROL_EMAIL])
    if hmac.compare_digest(state["hash"], _code_hash(request, code)):
        request.session[ENROL_EMAIL] = {"confirmed": request.user.pk}
        return True
    state["tries"] = state.get("tries", 0) + 1
    request.session[ENROL_EMAIL] = state
    return False


def masked_email(email: str) -> str:
    name, _, domain = (email or "").partition("@")
    return f"{name[:1]}…@{domain}" if domain else ""
