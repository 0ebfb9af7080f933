"""Benchmark: the pharmacy admin's audit search and CSV export over a large history.

Run after `manage.py generate_orders --orders 20000` on PostgreSQL (its bulk inserts go through the
history triggers too), e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_audit .venv/bin/python bench/audit_search.py
Measures in process (Django's test client, no network): the page searched by patient, by user over
30 days, and unfiltered (newest 200); p50/p95 over --requests runs with the query count; and the CSV
export of one patient's whole history, in rows per second."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402

django.setup()
from django.apps import apps  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from orders.models import Order  # noqa: E402
from portal.audit import HISTORY_MODELS  # noqa: E402
from portal.models import AccessEvent, User  # noqa: E402


def measure(label, call, requests):
    call()  # warm
    executed = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: executed.append(sql) or execute(sql, params, many, context)):
        response = call()
    assert response.status_code == 200, response.status_code
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"| {label} | {len(executed)} | {statistics.median(samples) * 1000:.1f} | {p95 * 1000:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    setup_test_environment()
    history = sum(apps.get_model(app, name).objects.count() for app, name in HISTORY_MODELS)
    print(f"orders: {Order.objects.count():,}; history rows: {history:,}; access events: {AccessEvent.objects.count():,}")
    admin_user = User.objects.get(username="admin")
    admin = Client()
    admin.force_login(admin_user)
    device, _ = TOTPDevice.objects.get_or_create(user=admin_user, name="bench", defaults={"confirmed": True})
    session = admin.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    busiest = Order.objects.values("patient").annotate(n=Count("id")).order_by("-n").first()
    patient = Order.objects.filter(patient=busiest["patient"]).first().patient
    since = (timezone.localdate() - timezone.timedelta(days=30)).isoformat()
    print(f"patient with the most orders: {busiest['n']}")
    print("| search | queries | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    measure("by patient", lambda: admin.get("/pharmacy/admin/audit/", {"patient": str(patient.public_id)}), args.requests)
    measure("by user, last 30 days", lambda: admin.get("/pharmacy/admin/audit/", {"user": "dr.rivera", "since": since}), args.requests)
    measure("everything, newest 200", lambda: admin.get("/pharmacy/admin/audit/", {"since": "2000-01-01"}), args.requests)
    start = time.perf_counter()
    response = admin.get("/pharmacy/admin/audit/", {"patient": str(patient.public_id), "format": "csv"})
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    seconds = time.perf_counter() - start
    print(f"CSV export of that patient: {rows:,} rows in {seconds:.2f} s")
    start = time.perf_counter()
    response = admin.get("/pharmacy/admin/audit/", {"since": "2000-01-01", "format": "csv"})
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    seconds = time.perf_counter() - start
    print(f"CSV export of everything: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
