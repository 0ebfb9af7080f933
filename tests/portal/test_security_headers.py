"""Security headers, password hashing and session limits."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.twofa import sign_in

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_pages_carry_a_strict_content_security_policy(client, rivera, password):
    sign_in(client, rivera.user, password)
    for url in ("/accounts/login/", "/prescriber/", "/formulary/"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, url
    response = client.get("/prescriber/")
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_only_the_swagger_page_allows_inline_code(client):
    assert "'unsafe-inline'" in client.get("/api/docs/")["Content-Security-Policy"]


def test_passwords_are_hashed_with_argon2_outside_tests():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PORTAL_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    code = "from django.contrib.auth.hashers import make_password; print(make_password('correct horse battery'))"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env={**env, "DATABASE_URL": "sqlite:////tmp/portal-argon.sqlite3"},
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1].startswith("argon2$argon2id$"), result.stderr


def test_sessions_expire_after_15_idle_minutes(client, rivera, password, settings):
    sign_in(client, rivera.user, password)
    client.get("/prescriber/")
    assert settings.SESSION_COOKIE_AGE == 15 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    assert 14 * 60 <= client.session.get_expiry_age() <= 15 * 60


def test_sessions_end_12_hours_after_sign_in_however_active(client, rivera, password):
    sign_in(client, rivera.user, password)
    assert client.get("/prescriber/").status_code == 200
    session = client.session
    session["signed_in_at"] = int(time.time()) - 13 * 60 * 60
    session.save()
    response = client.get("/prescriber/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
