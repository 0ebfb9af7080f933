"""F8 (issue 17, finding 6): the five-tries-per-link date-of-birth limit was check-then-act: ten
concurrent wrong tries got six answered. Now every counter (date-of-birth tries, sign-in lockouts,
rate limits) is an atomic increment in the shared cache (Redis INCR here, as in production), taken
before the answer is worked out: ten concurrent tries, ten at once, get exactly five answers; twenty
concurrent wrong passwords get exactly ten."""

import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from orders.models import Order
from orders.patient_links import link_token, patient_link_current
from portal.lockout import PER_USERNAME_AND_ADDRESS
from portal.patient_status import DOB_TRIES_PER_LINK
from tests.builders import approve, submit

pytestmark = pytest.mark.django_db(transaction=True)


def _all_at_once(count, send):
    barrier = threading.Barrier(count)
    codes = []

    def run():
        barrier.wait()
        codes.append(send())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(codes)


def _post(url, data: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_ten_concurrent_wrong_dates_of_birth_get_exactly_five_answers(live_server, api_as, rivera, staff, ready):
    from django.conf import settings

    assert "redis" in settings.CACHES["default"]["BACKEND"].lower() or settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    order = submit(api_as, rivera)
    approve(staff, order)
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    url = f"{live_server.url}/s/{token}/"
    body = urllib.parse.urlencode({"date_of_birth": "2000-01-01"}).encode()
    codes = _all_at_once(10, lambda: _post(url, body, "application/x-www-form-urlencoded"))
    assert codes.count(200) == DOB_TRIES_PER_LINK == 5 and codes.count(429) == 5, codes


def test_twenty_concurrent_wrong_passwords_get_exactly_ten_answers(live_server, rivera):
    body = b'{"username": "rivera", "password": "not-it"}'
    codes = _all_at_once(20, lambda: _post(f"{live_server.url}/api/v1/auth/token/", body, "application/json"))
    assert codes.count(400) == PER_USERNAME_AND_ADDRESS == 10 and codes.count(429) == 10, codes


def test_the_embedded_defaults_database_counter_is_atomic_across_processes(tmp_path):
    """`make run`'s cache (the database cache in the SQLite file): four processes, started together,
    adding 300 each, count 1,200 (Django's own DatabaseCache loses about a third of them here)."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PORTAL_ENV="development", PORTAL_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings")
    subprocess.run([sys.executable, "manage.py", "createcachetable"], cwd=root, env=env, check=True, capture_output=True, timeout=120)
    start = time.time() + 8  # all four start counting at the same moment, once Django is loaded
    script = ("import django, time; django.setup()\n"
              "from portal import ratelimit\n"
              f"time.sleep(max(0, {start} - time.time()))\n"
              "for _ in range(300): ratelimit.hit('race', 'one', window=600)\n")
    workers = [subprocess.Popen([sys.executable, "-c", script], cwd=root, env=env) for _ in range(4)]
    assert all(worker.wait(timeout=180) == 0 for worker in workers)
    reader = "import django; django.setup()\nfrom portal import ratelimit\nprint(ratelimit.hits('race', 'one'))"
    count = subprocess.run([sys.executable, "-c", reader], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert count.stdout.strip() == "1200", count.stderr[-2000:]
