"""F9 (issue 17, finding 7): the default email backend printed every email, with patient status-link
tokens and password-reset links, to the log, in production mode too. Now production refuses a
backend that prints, keeps or drops emails; development writes them to files; and no log line (the
request log, gunicorn's access log) carries a status-link token or a reset link."""

import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail

from portal.logfilters import GunicornLogger, redact

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"PORTAL_ENV": "production", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "portal.example.com",
              "CACHE_URL": "redis://cache.invalid:6379/1", "DATABASE_URL": "sqlite:////tmp/portal-f09.sqlite3"}


def _check(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_BACKEND")}
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.EMAIL_BACKEND)"],
                          check=False, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("backend", ["console", "locmem", "filebased", "dummy"])
def test_production_refuses_an_email_backend_that_does_not_send(backend):
    result = _check(**PRODUCTION, EMAIL_BACKEND=f"django.core.mail.backends.{backend}.EmailBackend")
    assert result.returncode == 2 and "EMAIL_BACKEND" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_production_sends_by_smtp_and_development_writes_files():
    assert _check(**PRODUCTION).stdout.strip().splitlines()[-1] == "django.core.mail.backends.smtp.EmailBackend"
    development = _check(PORTAL_ENV="development", DATABASE_URL="sqlite:////tmp/portal-f09.sqlite3")
    assert development.stdout.strip().splitlines()[-1] == "django.core.mail.backends.filebased.EmailBackend"


@pytest.mark.django_db
def test_a_password_reset_leaves_no_link_in_any_log(client, rivera, caplog):
    rivera.user.email = "rivera@northstar.example"
    rivera.user.save()
    with caplog.at_level(logging.DEBUG):
        client.post("/accounts/password-reset/", {"email": "rivera@northstar.example"})
        link = re.search(r"(/accounts/reset/[^/\s]+/[^/\s]+/)", mail.outbox[-1].body).group(1)
        client.get(link)  # the person opens it; the request log sees the path
    token = link.split("/")[4]
    logged = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(str(r.args) for r in caplog.records)
    assert token not in logged and link not in logged
    # gunicorn's access log line for the same request
    assert token not in redact(f'127.0.0.1 - - "GET {link} HTTP/1.1" 302 0') and "/accounts/reset/[redacted]/" in redact(link)
    assert hasattr(GunicornLogger, "atoms")


@pytest.mark.django_db
def test_patient_status_tokens_are_cut_from_log_lines():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/s/hkZLKss3UmSecretToken/",), None)
    from portal.logfilters import RedactPatientTokens

    RedactPatientTokens().filter(record)
    assert "hkZLKss3Um" not in record.getMessage() and "/s/[redacted]" in record.getMessage()
