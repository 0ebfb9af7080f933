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


def api_token_exchange(*, request, username: str, password: str) -> str:
    """Exchange a username and password for a new token. One generic message for any failure;
    the same lockout as the sign-in page."""
    from portal import lockout, ratelimit

    address = ratelimit.client_address(request)
    if lockout.is_locked(username=username, address=address):
        raise TooManyAttempts("Too many attempts. Try again in 15 minutes.")
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        lockout.failure(username=username, address=address)
        raise InvalidCredentials("Unable to sign in with those credentials.")
    lockout.success(username=username)
    return api_token_issue(user=user, name="Token exchange")


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
