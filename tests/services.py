"""Which real services answer here: PostgreSQL, Redis and Chromium. Used by the test runner
and by conftest, so `pytest` alone behaves like `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/portal")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CACHE_REDIS_URL = os.environ.get("TEST_CACHE_REDIS_URL", "redis://127.0.0.1:6379/14")  # rate limits and lockouts, as in production
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def postgres_answers() -> bool:
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2)
        conn.close()
        return True
    except Exception:
        return False


def redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


def chromium_runs() -> bool:
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.path.exists(path):
        return False
    try:
        return subprocess.run([path, "--version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
