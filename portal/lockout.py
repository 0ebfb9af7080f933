"""Sign-in lockout: after repeated failures for one username or from one client address, further
attempts are refused for a while, even with the right password. Counted in the cache (Redis in
production), for the sign-in page and the API's token exchange alike."""

from __future__ import annotations

from django.core.cache import cache

from portal import ratelimit

WINDOW_SECONDS = 15 * 60
PER_USERNAME = 5
PER_ADDRESS = 20


def _user(username: str) -> str:
    return (username or "").strip().lower()


def is_locked(*, username: str, address: str) -> bool:
    return (ratelimit.hits("signin-user", _user(username)) >= PER_USERNAME
            or ratelimit.hits("signin-address", address) >= PER_ADDRESS)


def failure(*, username: str, address: str) -> None:
    ratelimit.hit("signin-user", _user(username), window=WINDOW_SECONDS)
    ratelimit.hit("signin-address", address, window=WINDOW_SECONDS)


def success(*, username: str) -> None:
    cache.delete(ratelimit._key("signin-user", _user(username)))
