"""Fixed-window counters in the shared cache: Redis in production (INCR, atomic, keeps its expiry), the
database cache on the embedded default (portal.cache.AtomicDatabaseCache, just as atomic), so every
web process counts together and concurrent requests cannot slip past a limit. Callers count first
and decide on the count returned (never read, compare, then count)."""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

log = logging.getLogger(__name__)


def _key(scope: str, ident: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(ident.encode()).hexdigest()[:32]  # never the raw token or address


def hits(scope: str, ident: str) -> int:
    try:
        return int(cache.get(_key(scope, ident), 0))
    except Exception:  # noqa: BLE001 - the cache is down: count nothing, keep serving (see hit)
        log.warning("rate limit %s not counted: the cache is unreachable", scope)
        return 0


def hit(scope: str, ident: str, *, window: int) -> int:
    """Count one more in this window; returns the count. If the cache (Redis) is down, limits are
    not enforced rather than every order and sign-in failing: an outage of the counter must not be
    an outage of the pharmacy. It is logged, and /healthz reports Redis."""
    key = _key(scope, ident)
    try:
        cache.add(key, 0, timeout=window)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            return 1
    except Exception:  # noqa: BLE001
        log.warning("rate limit %s not counted: the cache is unreachable", scope)
        return 0


def give_back(scope: str, ident: str) -> None:
    """Take one back (an attempt counted in advance turned out not to count)."""
    try:
        cache.decr(_key(scope, ident))
    except ValueError:  # expired meanwhile: nothing to give back
        pass
    except Exception:  # noqa: BLE001 - as in hit()
        log.warning("rate limit %s not given back: the cache is unreachable", scope)


def reset(scope: str, ident: str) -> None:
    """Forget the count (a success ends a run of failures); nothing to do if the cache is down."""
    try:
        cache.delete(_key(scope, ident))
    except Exception:  # noqa: BLE001 - as in hit(): nothing was counted either
        log.warning("rate limit %s not reset: the cache is unreachable", scope)


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the
    outermost trusted proxy saw (counted from the right of X-Forwarded-For, which clients can forge
    on the left)."""
    from django.conf import settings

    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
