"""Sign-in lockout: after repeated failures for one username from one client address, or from one
address whatever the usernames, further attempts from there are refused for a while, even with the
right password. The same username from another address is not locked: locking a username everywhere
would let anyone lock a pharmacist out (and every account also has a second factor). Counted in the
shared cache (Redis in production, the database cache on the embedded default), for the sign-in
page, the admin site (which signs in through that page) and the API's token exchange alike.

Each attempt is counted *before* the password is checked (an atomic increment), and the count is
given back when the attempt succeeds: concurrent guesses cannot slip past the limit between a check
and a count. The username is counted as sign-in reads it (Unicode NFKC, case folded), so `ｔech`
and `Tech` spend the same ten tries as `tech`."""

from __future__ import annotations

import unicodedata

from portal import ratelimit

WINDOW_SECONDS = 15 * 60
PER_USERNAME_AND_ADDRESS = 10
PER_ADDRESS = 30


def normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip().casefold()


def _pair(username: str, address: str) -> str:
    return normalise(username) + "|" + address


def attempt(*, username: str, address: str) -> bool:
    """Count one sign-in attempt; False when this username from this address, or this address, is
    past its limit (then refuse without checking the password)."""
    pair = ratelimit.hit("signin-user-address", _pair(username, address), window=WINDOW_SECONDS)
    from_address = ratelimit.hit("signin-address", address, window=WINDOW_SECONDS)
    return pair <= PER_USERNAME_AND_ADDRESS and from_address <= PER_ADDRESS


def release(*, username: str, address: str) -> None:
    """Give an attempt back: it was not a failure (the password was right; the second factor is next)."""
    ratelimit.give_back("signin-user-address", _pair(username, address))
    ratelimit.give_back("signin-address", address)


def success(*, username: str, address: str) -> None:
    """A success ends this username's run of failures from this address, and is not one itself."""
    ratelimit.reset("signin-user-address", _pair(username, address))
    ratelimit.give_back("signin-address", address)
