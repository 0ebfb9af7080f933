"""Keeping a session, and getting it back without losing the page.

The page's script (static/js/portal.js) warns a minute before the idle limit; "Stay signed in" posts
here and the session is renewed like any request renews it. When a live request meets an ended
session (portal.middleware.SessionEndedMiddleware answers it 401), the page asks for the password and
the second factor in place and posts them here; the answer carries the new CSRF token, so the page can
send again what was typed, unchanged. The same lockout and code throttling as the sign-in pages apply."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_POST

from portal import two_factor
from portal.forms import SignInForm


def _answer(status: int, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"message": message, **extra}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def session_keep_alive(request):
    """Renews the session (every request does: SESSION_SAVE_EVERY_REQUEST); 401 once it has ended."""
    if not request.user.is_authenticated or two_factor.requires_second_factor(request.user):
        response = _answer(401, "Your session has ended. Sign in again to continue.")
        response["X-Session-Ended"] = "1"
        return response
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def session_resume(request):
    """Sign in again in place: password and second factor in one step; answers the new CSRF token."""
    form = SignInForm(request, data=request.POST)
    if not form.is_valid():
        if form.locked:
            return _answer(429, "Too many attempts. Try again in 15 minutes, or reset your password.")
        return _answer(400, "That password did not match. Check it and try again.")
    user = form.get_user()
    try:
        device = two_factor.matching_device(user, request.POST.get("code", ""))
    except two_factor.Throttled:
        return _answer(429, "Too many wrong codes. Wait a minute, then enter the code your app shows now.")
    if device is None:
        return _answer(400, "That code did not match. Enter the 6-digit code your app shows now, or a recovery code.")
    login(request, user)
    two_factor.signed_in_with(request, device)
    return _answer(200, "Signed in again.", csrf_token=get_token(request))
