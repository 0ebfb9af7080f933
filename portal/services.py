"""Account services: issuing and revoking API tokens."""

from __future__ import annotations

import secrets

from django.contrib.auth import authenticate
from django.utils import timezone

from portal.authentication import hash_token
from portal.errors import ServiceError
from portal.models import ApiToken, User


class InvalidCredentials(ServiceError):
    status = 400
    code = "invalid_credentials"


def api_token_issue(*, user: User, name: str = "API token") -> str:
    """Create a token for `user` and return it. Only its hash is kept: it cannot be shown again."""
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=raw[:8], key_hash=hash_token(raw))
    return raw


class TooManyAttempts(ServiceError):
    status = 429
    code = "too_many_attempts"


class SecondFactorRequired(ServiceError):
    status = 400
    code = "second_factor_required"


def api_token_exchange(*, request, username: str, password: str, otp: str = "") -> str:
    """Exchange a username, password and, for everyone but platform accounts, a current two-factor
    code for a new token (a password alone must not open what the pages guard with two factors).
    One generic message for any failure; the same lockout as the sign-in page."""
    from portal import lockout, ratelimit, two_factor
    from portal.models import Role

    address = ratelimit.client_address(request)
    if not lockout.attempt(username=username, address=address):  # counted before the password is checked
        raise TooManyAttempts("Too many attempts. Try again in 15 minutes.")
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Unable to sign in with those credentials.")
    if user.role != Role.PLATFORM:
        if not two_factor.has_app_device(user):
            lockout.release(username=username, address=address)  # the password was right
            raise SecondFactorRequired("Set up two-factor sign-in in the browser first, then send its code as 'otp'.")
        try:
            device = two_factor.matching_device(user, otp or "")
        except two_factor.Throttled:
            device = None
        if device is None:  # a wrong code counts as a failure, like a wrong password
            raise SecondFactorRequired("Send the current code from your authenticator app as 'otp'.", fields={"otp": ["Wrong or missing code."]})
    lockout.success(username=username, address=address)
    return api_token_issue(user=user, name="Token exchange")


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
