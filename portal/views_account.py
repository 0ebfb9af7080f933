"""The signed-in user's own security: two-factor enrolment and sign-in, recovery codes, API tokens."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal import services, two_factor
from portal.errors import NotFound
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
def security_page(request):
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return _no_store(render(request, "portal/security.html", {
        "tokens": tokens, "recovery_left": two_factor.recovery_codes_left(request.user),
    }))


@login_required
@require_POST
def recovery_codes_new(request):
    codes = two_factor.recovery_codes_renew(request.user)
    return _no_store(render(request, "portal/recovery_codes.html", {"codes": codes, "next": "/accounts/security/", "first": False}))


@login_required
@require_POST
def token_create(request):
    name = request.POST.get("name", "").strip()
    if not name or len(name) > 100:
        messages.error(request, "Give the token a name of 1 to 100 characters (what will use it).")
        return redirect("security")
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
