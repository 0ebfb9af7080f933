"""`make run`: migrate, load the demo data, then serve the portal with its background work.

Starts gunicorn (the web) and one Celery worker with an embedded beat (the background work),
waits until /healthz answers, prints the demo sign-ins, and on Ctrl-C stops everything it
started. A configuration problem stops start-up with one line naming the setting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    sys.stderr.write(f"portal: configuration error: {message}\n")
    sys.exit(2)


def read_host_port() -> tuple[str, int]:
    host = os.environ.get("HOST", "127.0.0.1").strip() or "127.0.0.1"
    raw_port = os.environ.get("PORT", "8000").strip() or "8000"
    if not raw_port.isdigit():
        fail(f"PORT={raw_port!r} is not a number (use a port such as 8000)")
    port = int(raw_port)
    if not 1 <= port <= 65535:
        fail(f"PORT={port} is out of range (1..65535)")
    return host, port


def check_settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from portal.env import ConfigError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load and validate
    except ConfigError as exc:
        fail(str(exc))


def manage(*args: str) -> None:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT)
    if result.returncode != 0:
        sys.stderr.write(f"portal: `manage.py {' '.join(args)}` failed (exit {result.returncode})\n")
        sys.exit(result.returncode)


def wait_for_health(url: str, children: list[subprocess.Popen], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local URL
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def site_url(host: str, port: int) -> str:
    """Where this server answers, for links in emails and the API (SITE_URL when not given)."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def main() -> None:
    host, port = read_host_port()
    # Links in emails and the API's patient_status_url name the port this server runs on, unless the
    # deployment says otherwise (a proxy's address). Set before the settings load; the web and the
    # worker inherit it.
    if not os.environ.get("SITE_URL", "").strip():
        os.environ["SITE_URL"] = site_url(host, port)
    check_settings()
    from django.conf import settings

    manage("migrate", "--noinput", "-v", "0")
    # Lockouts and rate limits without Redis: Django's database cache in the same database, so both
    # gunicorn workers count together (portal.cache.AtomicDatabaseCache).
    manage("createcachetable")
    manage("collectstatic", "--noinput", "-v", "0")
    manage("demo_data")
    if not settings.BROKER_CONFIGURED:
        for folder in ("queue", "processed", "control"):
            (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)

    bin_dir = Path(sys.executable).parent
    web = [str(bin_dir / "gunicorn"), "portal.wsgi", "--bind", f"{host}:{port}", "--workers", os.environ.get("WEB_CONCURRENCY", "2"),
           "--access-logfile", "-", "--graceful-timeout", "5", "--logger-class", "portal.logfilters.GunicornLogger"]
    worker = [str(bin_dir / "celery"), "-A", "portal", "worker", "--beat", "--loglevel", "INFO", "--concurrency", "1",
              "--queues", "default,pdf,notify", "--hostname", "main@%h", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]
    # Webhook deliveries have a pool of their own (threads: they wait on the network), so a clinic's slow
    # receivers never hold up a worksheet, an email or another clinic's webhooks.
    webhooks = [str(bin_dir / "celery"), "-A", "portal", "worker", "--loglevel", "INFO", "--pool", "threads", "--concurrency", "4",
                "--queues", "webhooks", "--hostname", "webhooks@%h"]
    children = [subprocess.Popen(cmd, cwd=ROOT, start_new_session=True) for cmd in (web, worker, webhooks)]

    def stop(*_args) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()  # the main process shuts its own children down cleanly
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        print("portal: stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    base_url = site_url(host, port)
    if wait_for_health(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/healthz", children):
        mode = "PostgreSQL" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "SQLite (var/portal.sqlite3)"
        broker = "Redis" if settings.BROKER_CONFIGURED else "embedded filesystem queue (var/broker)"
        print(f"\nportal: serving {base_url}/  (database: {mode}; background work: Celery on {broker})")
        print(f"portal: sign in at {base_url}/accounts/login/  ·  health {base_url}/healthz  ·  API docs {base_url}/api/docs/")
        print(f"portal: links in emails and the API point to {settings.SITE_URL} (SITE_URL)")
        print("portal: demo users dr.rivera, dr.chen, pharmacist, tech, admin (and platform, API only); password "
              + ("from $DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else "compound-demo-2026"))
        print("portal: Ctrl-C stops everything.\n", flush=True)
    else:
        sys.stderr.write("portal: the web server did not become healthy; stopping.\n")
        stop()

    while True:
        for child in children:
            if child.poll() is not None:
                sys.stderr.write(f"portal: {Path(child.args[0]).name} exited ({child.returncode}); stopping.\n")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
