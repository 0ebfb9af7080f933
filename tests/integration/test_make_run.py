"""`make run`'s launcher on the embedded default: SQLite, no broker, background work still done."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
SERVE_SECONDS = 180  # migrate the embedded database, load the demo, start gunicorn and the worker
WORKER_SECONDS = 90  # the worker's first check-in through the filesystem broker
EMAIL_SECONDS = 90  # the approval email, sent by the worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def port_8810_or_free() -> int:
    """The issue's port when nobody holds it (two checkouts may run this test at once), else any free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 8810))
        except OSError:
            return free_port()
    return 8810


def api(base, path, token, body=None, **headers):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read().decode())


def test_launcher_serves_and_works_in_the_background_then_stops(tmp_path):
    port = port_8810_or_free()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PORT=str(port), PORTAL_VAR_DIR=str(tmp_path), DEMO_PASSWORD="launcher-test-pw-1")
    log = open(tmp_path / "run.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "portal.launcher"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        # Each phase has its own deadline: a slow first phase (migrations on a loaded machine) does not eat the next's time,
        # and a failure names the phase that ran out.
        deadline = time.monotonic() + SERVE_SECONDS
        while time.monotonic() < deadline:
            log.seek(0)
            if "portal: serving" in log.read():
                break
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail(f"the launcher did not serve within {SERVE_SECONDS} s")
        log.seek(0)
        printed = log.read()
        assert "dr.rivera" in printed and "from $DEMO_PASSWORD" in printed
        status, page = get(f"{base}/accounts/login/")
        assert status == 200 and "Sign in" in page
        # the worker started by the launcher checks in through the embedded (filesystem) broker
        worker = {}
        deadline = time.monotonic() + WORKER_SECONDS
        while time.monotonic() < deadline:
            status, body = get(f"{base}/healthz")
            worker = json.loads(body)["worker"]
            if worker["status"] == "ok":
                break
            time.sleep(1)
        assert status == 200 and worker["status"] == "ok", (f"the worker did not check in within {WORKER_SECONDS} s", worker)
        assert json.loads(body)["broker"]["status"] == "not configured"
        assert (tmp_path / "portal.sqlite3").exists()
        assert f"links in emails and the API point to http://localhost:{port}" in printed

        # SITE_URL follows PORT: the API's patient_status_url and the patient's email name this port
        def token(username):
            made = subprocess.run([sys.executable, "manage.py", "api_token", username], cwd=ROOT, env=env, capture_output=True,
                                  text=True, check=True)
            return made.stdout.strip()

        rivera, pharmacist = token("dr.rivera"), token("pharmacist")
        patient = next(p for p in api(base, "/api/v1/patients/", rivera)["results"] if p["last_name"] == "Okoro")
        order = api(base, "/api/v1/orders/", rivera, {"patient_id": patient["id"], "preparations": [
            {"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply nightly.",
             "ingredients": [{"ingredient": "squalane", "percent": 5}]}]}, **{"Idempotency-Key": "launcher-port"})
        warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"] if f["severity"] == "warning"})
        for prep in order["preparations"]:  # its proposed master formulation record first (USP <795> 7.2)
            if prep["mfr"]["status"] == "draft":
                api(base, f"/api/v1/mfrs/{prep['mfr']['id']}/approve/", pharmacist, {})
        api(base, f"/api/v1/orders/{order['id']}/approve/", pharmacist, {"acknowledged_warnings": warnings})
        status_url = api(base, f"/api/v1/orders/{order['id']}/", rivera)["patient_status_url"]
        assert status_url.startswith(f"http://localhost:{port}/s/"), status_url
        # the worker sends the approval email; development writes each email to a file in var/mail/ (never the log)
        mail = tmp_path / "mail"
        deadline = time.monotonic() + EMAIL_SECONDS
        while time.monotonic() < deadline:
            if any(f"http://localhost:{port}/s/" in sent.read_text(errors="replace") for sent in mail.glob("*")):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the patient's email with the status link was not sent within {EMAIL_SECONDS} s")
        log.seek(0)
        assert not re.search(r"/s/(?!\[redacted\])[A-Za-z0-9_-]{10,}", log.read()), "a status-link token reached the log"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("Ctrl-C did not stop the launcher within 30 s")
    log.seek(0)
    assert "portal: stopped." in log.read()
    for pattern in (f"127.0.0.1:{port}", str(tmp_path)):  # gunicorn's bind, the worker's beat schedule
        leftovers = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.strip()
        assert leftovers == "", f"a process matching {pattern} kept running after Ctrl-C"
