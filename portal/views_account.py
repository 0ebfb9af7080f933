"""The signed-in user's own security: two-factor enrolment and sign-in, recovery codes, API tokens."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal import services, two_factor
from portal.errors import NotFound
from portal.form_input import FormInput, form_input_checked
from portal.models import ApiToken


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


@login_required
def two_factor_setup(request):
    """First sign-in: scan the QR code (or type the secret), confirm with one code, keep the recovery codes."""
    if two_factor.has_app_device(request.user) and not request.user.is_verified():
        return redirect(f"/accounts/two-factor/verify/?{urlencode({'next': _next(request)})}")
    if not request.user.is_verified():  # a first enrolment, on the strength of a password alone
        if not two_factor.signed_in_recently(request):
            next_url = f"{reverse('two-factor-setup')}?{urlencode({'next': _next(request)})}"
            logout(request)
            messages.info(request, "To set up two-factor sign-in, sign in again first (it must follow a fresh sign-in).")
            return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")
        if two_factor.needs_email_confirmation(request.user) and not two_factor.email_confirmed(request):
            return _email_step(request)
    device = two_factor.pending_app_device(request.user)
    error = ""
    if request.method == "POST":
        if not device.verify_is_allowed()[0]:
            error = "Too many wrong codes. Wait a minute, then enter the code your app shows now."
        else:
            codes = two_factor.confirm_app_device(request, device, request.POST.get("code", ""))
            if codes is not None:
                return _no_store(render(request, "portal/recovery_codes.html", {"codes": codes, "next": _next(request), "first": True}))
            error = "That code did not match. Check the time on your phone and enter the code the app shows now."
    size, path = two_factor.qr_path(device)
    return _no_store(render(request, "portal/two_factor_setup.html", {
        "qr_size": size, "qr_path": path, "secret": two_factor.secret_text(device), "error": error, "next": _next(request),
    }))


def _email_step(request):
    """Staff: before the authenticator key is shown, type the code we emailed to the account's address."""
    user = request.user
    error = ""
    if not user.email:
        return _no_store(render(request, "portal/two_factor_email.html", {"no_email": True}))
    if request.method == "POST" and request.POST.get("action") != "resend":
        if two_factor.enrol_email_check(request, request.POST.get("code", "")):
            return redirect(f"{reverse('two-factor-setup')}?{urlencode({'next': _next(request)})}")
        error = ("That code did not match. Enter the 8-digit code from the newest email." if two_factor.enrol_email_pending(request)
                 else "That code has expired or was mistyped too often. Send a new one.")
    elif (request.method == "POST" or not two_factor.enrol_email_pending(request)) and not two_factor.enrol_email_send(request):
        error = "We sent several codes already. Wait 15 minutes, then send a new one."
    return _no_store(render(request, "portal/two_factor_email.html", {
        "email": two_factor.masked_email(user.email), "error": error, "next": _next(request),
    }))


@login_required
def two_factor_verify(request):
    if request.user.is_verified():
        return redirect(_next(request))
    if not two_factor.has_app_device(request.user):
        return redirect(f"/accounts/two-factor/setup/?{urlencode({'next': _next(request)})}")
    error = ""
    if request.method == "POST":
        try:
            device = two_factor.verify(request, request.POST.get("code", ""))
        except two_factor.Throttled:
            error = "Too many wrong codes. Wait a minute, then enter the code your app shows now."
        else:
            if device is not None:
                if device.name == two_factor.RECOVERY_DEVICE:
                    left = two_factor.recovery_codes_left(request.user)
                    messages.warning(request, f"You signed in with a recovery code; {left} left. Make new ones on your security page.")
                return redirect(_next(request))
            error = "That code did not match. Enter the 6-digit code your app shows now, or one of your recovery codes."
    return _no_store(render(request, "portal/two_factor_verify.html", {"error": error, "next": _next(request)}))


@login_required
def security_page(request, *, token_form: dict | None = None):
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return _no_store(render(request, "portal/security.html", {
        "tokens": tokens, "recovery_left": two_factor.recovery_codes_left(request.user), "token_form": token_form or {},
    }))


@login_required
@require_POST
def recovery_codes_new(request):
    codes = two_factor.recovery_codes_renew(request.user)
    return _no_store(render(request, "portal/recovery_codes.html", {"codes": codes, "next": "/accounts/security/", "first": False}))


@form_input_checked
@login_required
@require_POST
def token_create(request):
    checked = FormInput(request.POST, request)
    name = checked.text("name", max_length=100)
    if checked.ok and not name:
        checked.error("name", "Give the token a name of 1 to 100 characters (what will use it).")
    if not checked.ok:  # the security page again, the name as typed and the error beside it; no token made
        return security_page(request, token_form={"values": checked.values, "errors": checked.errors})
    raw = services.api_token_issue(user=request.user, name=name)
    return _no_store(render(request, "portal/token_created.html", {"token": raw, "name": name}))


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    services.api_token_revoke(token=token)
    messages.success(request, f"Token {token.prefix}… ({token.name}) is revoked: calls with it now get 401.")
    return redirect("security")
