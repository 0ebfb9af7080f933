"""Settings from the environment, read through small helpers that reject bad values.

Every helper raises ConfigError naming the variable, so start-up stops with one clear line
(manage.py, the launcher and the WSGI/Celery entry points print it without a traceback).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """A setting that cannot be used. Its message names the variable and what is wrong."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is out of range ({minimum}..{maximum})")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_time(name: str, default: str):
    """A time of day as HH:MM (24-hour clock)."""
    import datetime as dt

    raw = os.environ.get(name, default).strip()
    try:
        return dt.time.fromisoformat(raw) if len(raw) == 5 else dt.time.fromisoformat("invalid")
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a time of day (use HH:MM on a 24-hour clock, e.g. 14:00)") from None


def env_dates(name: str, *, unset=None) -> list[str] | None:
    """Dates as YYYY-MM-DD, comma-separated (kept as ISO text); `unset` when the variable is not set at all (set
    and empty is no dates)."""
    import datetime as dt

    if name not in os.environ:
        return unset
    days = env_list(name)
    for day in days:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise ConfigError(f"{name}: {day!r} is not a date (use YYYY-MM-DD, comma-separated)") from None
    return days


def parse_database_url(name: str, url: str, *, base_dir) -> dict:
    """Turn postgres://user:pass@host:port/db or sqlite:///path into a DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ConfigError(f"{name}={url!r} names no database (postgres://user@host:5432/NAME)")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{name} has a port that is not a number") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("/") and parts.netloc == "":
            # sqlite:///relative/path and sqlite:////absolute/path: the third slash ends the authority.
            path = path[1:]
        if not path:
            raise ConfigError(f"{name}={url!r} names no file (sqlite:///var/portal.sqlite3)")
        if not os.path.isabs(path):
            path = str(base_dir / path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # A web process and a worker share the file: wait for the lock instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    shown = scheme or "(none)"
    raise ConfigError(f"{name} has an unknown scheme {shown!r}: use postgres:// or sqlite://")


def check_broker_url(name: str, url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in {"redis", "rediss", "filesystem"}:
        raise ConfigError(f"{name} has an unknown scheme {scheme or '(none)'!r}: use redis:// or rediss://")
    return url
