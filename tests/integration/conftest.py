"""A real Celery worker process on the real Redis, working on the suite's PostgreSQL test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _database_url(settings_dict) -> str:
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or "5432"
    user = settings_dict["USER"] or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def stack_env(transactional_db, tmp_path):
    """The environment for processes that share the suite's PostgreSQL test database, Redis and media."""
    import redis
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "PORTAL_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PORTAL_VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SIMULATED_CARRIER_STEP_SECONDS": str(settings.SIMULATED_CARRIER_STEP_SECONDS),
        "TRACKING_POLL_SECONDS": "2",
        "OUTBOX_RELAY_SECONDS": "2",
        # fault tests: a dead render is taken over after 10 + 15 s; lost messages are re-sent after 3 s
        "CELERY_TASK_TIME_LIMIT": "10",
        "CELERY_TASK_SOFT_TIME_LIMIT": "8",
        "RESEND_WORKSHEETS_SECONDS": "2",
        "WORKSHEET_RESEND_AFTER_SECONDS": "3",
    }


@pytest.fixture
def beat_process(stack_env, tmp_path):
    """`celery beat` as its own process (tracking polls every 2 s here)."""
    log = open(tmp_path / "beat.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                                "--schedule", str(tmp_path / "beat-schedule")], cwd=ROOT, env=stack_env, stdout=log,
                               stderr=subprocess.STDOUT)
    process.log_path = tmp_path / "beat.log"
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def start_worker(env: dict, log_path: Path, *, concurrency: int = 1, name: str = "test", queues: str = "default,pdf,notify,webhooks",
                 pool: str = "prefork") -> subprocess.Popen:
    """A real `celery worker` process; returns once it is ready."""
    log = open(log_path, "a+")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", pool, "--concurrency", str(concurrency),
         "--queues", queues, "--without-mingle", "--without-gossip", "--loglevel", "INFO",
         "--hostname", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    start = log.tell()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(start)
        if " ready." in log.read():
            process.log_path = log_path
            process.log_file = log
            return process
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"the worker exited early:\n{log.read()[-3000:]}")
        time.sleep(0.2)
    pytest.fail("the worker did not become ready within 60 s")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def celery_worker_process(stack_env, tmp_path):
    """Start `celery worker` as its own process; yield it; stop it warmly (then hard) afterwards."""
    from django.db import connection

    process = start_worker(stack_env, tmp_path / "worker.log")
    yield process
    stop_process(process)
    process.log_file.close()
    connection.close()  # the worker's connections are gone; let the flush at teardown start clean
