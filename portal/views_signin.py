"""Signing in and resetting a password: one sign-in page for the portal and the admin site, with the
lockout (429 once locked), and a password reset that is rate-limited per address and per account."""

from __future__ import annotations

import logging

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from portal import lockout, ratelimit
from portal.forms import SignInForm

log = logging.getLogger(__name__)

RESETS_PER_ADDRESS = 5  # per hour, whatever the addresses asked for
RESETS_PER_EMAIL = 3  # per hour, whether or not an account has that email
RESET_WINDOW_SECONDS = 60 * 60


class SignInView(auth_views.LoginView):
    """The portal's sign-in page; a locked username or address answers 429 Too Many Requests."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked:
            response.status_code = 429
        return response


def admin_login(request, extra_context=None):
    """The admin site signs in through the portal's page (lockout, second factor), never its own form."""
    target = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': target})}")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset, counted before any email is looked up or sent: RESETS_PER_ADDRESS from one client
    address and RESETS_PER_EMAIL for one email address per hour; past either, 429 with the same page
    whether or not an account has that email."""

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        if form.is_valid():
            address = ratelimit.client_address(request)
            email = lockout.normalise(form.cleaned_data["email"])
            from_address = ratelimit.hit("password-reset-address", address, window=RESET_WINDOW_SECONDS)
            for_email = ratelimit.hit("password-reset-email", email, window=RESET_WINDOW_SECONDS)
            if from_address > RESETS_PER_ADDRESS or for_email > RESETS_PER_EMAIL:
                log.warning("password reset refused: too many requests")
                return render(request, "registration/password_reset_limited.html", status=429)
        return super().post(request, *args, **kwargs)
