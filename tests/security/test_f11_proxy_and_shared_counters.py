"""F11 (issue 17, finding 8): docker-compose asked for a proxy in front but left TRUSTED_PROXY_COUNT at
0 (every client then shares the proxy's address: thirty failed sign-ins by anyone locked everyone
out), production started without CACHE_URL (each process counting alone), and a patient who had
confirmed their date of birth got 429 once their address reached its limit. All three fixed."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orders.models import Order
from orders.patient_links import link_token, patient_link_current
from portal.lockout import PER_ADDRESS
from portal.patient_status import LOOKUPS_PER_ADDRESS
from tests.builders import approve, submit

ROOT = Path(__file__).resolve().parents[2]


def test_compose_trusts_exactly_the_proxy_it_documents_and_hides_gunicorn_behind_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-portal"]["environment"]
    assert environment["TRUSTED_PROXY_COUNT"] == "1" and environment["CACHE_URL"].startswith("redis://")
    assert compose["services"]["web"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "TRUSTED_PROXY_COUNT" in (ROOT / "README.md").read_text()


@pytest.mark.django_db
def test_behind_the_proxy_one_clients_failures_do_not_lock_out_another(client, rivera, password, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for i in range(PER_ADDRESS + 5):
        client.post("/accounts/login/", {"username": f"guess{i}", "password": "x"}, REMOTE_ADDR=proxy,
                    HTTP_X_FORWARDED_FOR="198.51.100.66")
    # the attacker's address is locked; a clinic signing in through the same proxy is not
    assert client.post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=proxy,
                       HTTP_X_FORWARDED_FOR="198.51.100.66").status_code == 429
    from django.test import Client

    assert Client().post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=proxy,
                         HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 302
    # a forged header on the left changes nothing: the proxy's own entry (rightmost) is the one counted
    assert Client().post("/accounts/login/", {"username": "rivera", "password": password}, REMOTE_ADDR=proxy,
                       HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.66").status_code == 429


def test_production_refuses_to_start_without_a_shared_cache():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(PORTAL_ENV="production", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="portal.example.com",
               DATABASE_URL="sqlite:////tmp/portal-f11.sqlite3")
    result = subprocess.run([sys.executable, "manage.py", "check"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "CACHE_URL" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.django_db
def test_a_patient_who_confirmed_is_not_counted_against_the_address_limit(client, api_as, rivera, staff, ready):
    from django.test import Client

    order = submit(api_as, rivera)
    approve(staff, order)
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    shared = "203.0.113.200"  # a clinic's Wi-Fi: one address for everyone behind it
    assert client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, REMOTE_ADDR=shared).status_code == 302
    guesser = Client()
    for i in range(LOOKUPS_PER_ADDRESS):
        guesser.get(f"/s/guess-{i}/", REMOTE_ADDR=shared)
    assert guesser.get(f"/s/{token}/", REMOTE_ADDR=shared).status_code == 429  # the address is spent for guessers …
    for _ in range(3):
        page = client.get(f"/s/{token}/", REMOTE_ADDR=shared)  # … not for the patient who confirmed
        assert page.status_code == 200 and "Maya" in page.content.decode()
