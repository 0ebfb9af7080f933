"""Settings come from the environment; unusable values stop start-up with one clear line."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from portal.env import ConfigError, env_bool, env_int, parse_database_url

ROOT = Path(__file__).resolve().parents[2]


def run(args, timeout=120, **env):
    dropped = ("DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_ENV", "DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=timeout)


def test_postgres_url_is_parsed():
    db = parse_database_url("DATABASE_URL", "postgres://app:s%40cret@db.internal:6543/portal", base_dir=ROOT)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == ("portal", "app", "s@cret", "db.internal", "6543")


def test_sqlite_url_relative_and_absolute():
    assert parse_database_url("X", "sqlite:////tmp/a.sqlite3", base_dir=ROOT)["NAME"] == "/tmp/a.sqlite3"
    assert parse_database_url("X", "sqlite:///var/a.sqlite3", base_dir=ROOT)["NAME"] == str(ROOT / "var/a.sqlite3")


@pytest.mark.parametrize("url", ["mysql://root@localhost/portal", "portal.sqlite3", "postgres://host:5432/"])
def test_unusable_database_url_is_refused(url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        parse_database_url("DATABASE_URL", url, base_dir=ROOT)


def test_env_helpers_reject_garbage(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "eight")
    with pytest.raises(ConfigError, match="X_BOOL"):
        env_bool("X_BOOL")
    with pytest.raises(ConfigError, match="X_INT"):
        env_int("X_INT", 1)


def test_unknown_database_scheme_stops_manage_py_with_one_line():
    result = run(["manage.py", "check"], DATABASE_URL="mysql://root@localhost/portal")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["portal: configuration error: DATABASE_URL has an unknown scheme 'mysql': use postgres:// or sqlite://"]


def test_non_numeric_port_stops_the_launcher_with_one_line():
    result = run(["-m", "portal.launcher"], PORT="eighty")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["portal: configuration error: PORT='eighty' is not a number (use a port such as 8000)"]
    assert result.stdout == ""  # nothing was started or migrated


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DEBUG": "1", "ALLOWED_HOSTS": "portal.example.com"}, "DEBUG"),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "portal.example.com", "SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DEBUG": "0"}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_settings(env, named):
    env = {"PORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(60), "CACHE_URL": "redis://cache.invalid:6379/1", **env}
    if env["SECRET_KEY"] == "":
        env.pop("SECRET_KEY")
    result = run(["manage.py", "check"], **env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr


def test_check_deploy_is_clean_in_production():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        PORTAL_ENV="production",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="portal.example.com",
        DATABASE_URL="sqlite:////tmp/portal-deploy-check.sqlite3",
        CACHE_URL="redis://cache.invalid:6379/1",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_responses_carry_hsts_and_secure_cookies():
    """The headers read off a real response under production settings (a separate process: settings load once)."""
    script = (
        "import django, json; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('collectstatic', '--noinput', verbosity=0)  # production serves hashed static names, as make run prepares\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "plain = c.get('/accounts/login/', HTTP_HOST='portal.example.com')\n"
        "r = c.get('/accounts/login/', secure=True, HTTP_HOST='portal.example.com')\n"
        "cookie = r.cookies.get('csrftoken')\n"
        "print(json.dumps({'redirect': plain.status_code, 'location': plain.get('Location', ''), 'hsts': r.get('Strict-Transport-Security', ''),\n"
        "  'csp': r.get('Content-Security-Policy', ''), 'nosniff': r.get('X-Content-Type-Options', ''), 'referrer': r.get('Referrer-Policy', ''),\n"
        "  'cookie_secure': bool(cookie and cookie['secure']), 'cookie_httponly': bool(cookie and cookie['httponly'])}))\n"
    )
    result = run(["-c", script], PORTAL_ENV="production", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="portal.example.com",
                 DATABASE_URL="sqlite:////tmp/portal-deploy-check.sqlite3", DJANGO_SETTINGS_MODULE="portal.settings",
                 CACHE_URL="redis://cache.invalid:6379/1",
                 timeout=480)  # collectstatic compresses every asset (about 70 s of CPU here, minutes on a busy machine)
    assert result.returncode == 0, result.stderr
    import json

    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == 301 and seen["location"].startswith("https://")
    assert "max-age=31536000" in seen["hsts"] and "includeSubDomains" in seen["hsts"]
    assert "frame-ancestors 'none'" in seen["csp"] and "unsafe-inline" not in seen["csp"]
    assert seen["nosniff"] == "nosniff" and seen["referrer"] == "same-origin"
    assert seen["cookie_secure"] and seen["cookie_httponly"]
