"""Issue 17, finding 10: on the embedded default (`make run`: SQLite, two gunicorn workers) lockouts
lived in each worker's memory, so 12 wrong passwords for one username never locked it. Now the
counters live in Django's database cache in the SQLite file (made by `make run`), shared by both
workers: 12 wrong passwords for one new username from one address end in 429 before the twelfth."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_twelve_wrong_passwords_on_make_run_end_in_429(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PORT=str(port), PORTAL_VAR_DIR=str(tmp_path), WEB_CONCURRENCY="2")
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115 - held open for the launcher's whole life
    process = subprocess.Popen([sys.executable, "-m", "portal.launcher"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while "portal: serving" not in (tmp_path / "run.log").read_text():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.5)
        codes = []
        for attempt in range(12):
            jar = http.cookiejar.CookieJar()  # a fresh browser each time, as a script would be
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = opener.open(f"{base}/accounts/login/", timeout=30).read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "nobody-new-17", "password": f"wrong-{attempt}"}).encode()
            try:
                codes.append(opener.open(f"{base}/accounts/login/", data=body, timeout=30).status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
        assert 429 in codes[:11], codes
        assert codes[:10] == [200] * 10 and codes[10:] == [429, 429], codes
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
