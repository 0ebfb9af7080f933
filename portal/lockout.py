"""Sign-in lockout: after repeated failures for one username from one client address, or from one
address whatever the usernames, further attempts from there are refused for a while, even with the
right password. The same username from another address is not locked: locking a username everywhere
would let anyone lock a pharmacist out (and every account also has a second factor). Counted in the
cache (Redis in production), for the sign-in page and the API's token exchange alike."""

from __future__ import annotations

from portal import ratelimit

WINDOW_SECONDS = 15 * 60
PER_USERNAME_AND_ADDRESS = 10
PER_ADDRESS = 30


def _pair(username: str, address: str) -> str:
    return (username or "").strip().lower() + "|" + address


def is_locked(*, username: str, address: str) -> bool:
    return (ratelimit.hits("signin-user-address", _pair(username, address)) >= PER_USERNAME_AND_ADDRESS
            or ratelimit.hits("signin-address", address) >= PER_ADDRESS)


def failure(*, username: str, address: str) -> None:
    ratelimit.hit("signin-user-address", _pair(username, address), window=WINDOW_SECONDS)
    ratelimit.hit("signin-address", address, window=WINDOW_SECONDS)


def success(*, username: str, address: str) -> None:
    ratelimit.reset("signin-user-address", _pair(username, address))
