"""Benchmark: server time and query counts of the busiest pages at scale.

Run after `BENCH_ENDPOINTS=1 manage.py generate_orders --orders 100000` on PostgreSQL, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_scale .venv/bin/python bench/scale.py
Measures, in process (Django's test client, so no network): every list page and endpoint (the compounding
queue page, the orders list API, the patient status page, the prescriber's home, the verification queue, the
jobs API, a FHIR search) and the metrics page; p50/p95 over --requests runs and the query count."""

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
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from fulfillment.models import Job  # noqa: E402
from orders.models import Order  # noqa: E402
from orders.patient_links import link_token, patient_link_issue  # noqa: E402
from portal.models import User  # noqa: E402


def measure(label, call, requests):
    call()  # warm
    executed = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: executed.append(sql) or execute(sql, params, many, context)):
        response = call()
    assert response.status_code == 200, (label, response.status_code)
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"| {label} | {len(executed)} | {statistics.median(samples) * 1000:.1f} | {p95 * 1000:.1f} |")


def verified_client(username: str) -> Client:
    """A test client signed in as `username` with both factors: the session carries a confirmed
    device, as after a code was entered."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = User.objects.get(username=username)
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    setup_test_environment()
    print(f"orders: {Order.objects.count():,}; jobs: {Job.objects.count():,}; database: {connection.vendor}")
    tech, doctor = verified_client("tech"), APIClient()
    doctor.force_authenticate(User.objects.get(username="dr.rivera"))
    order = Order.objects.filter(status="approved").order_by("-created_at").first()
    token = link_token(patient_link_issue(order=order))
    patient = Client()
    patient.post(f"/s/{token}/", {"date_of_birth": order.patient.date_of_birth.isoformat()})
    addresses = iter(f"198.51.{i // 250}.{i % 250}" for i in range(10**6))  # one address per request: stay under the rate limit
    import gc

    from portal.gc_tuning import gc_tune

    gc_tune()  # as gunicorn.conf.py's post_fork does in production: young objects collected less often
    gc.freeze()  # as portal/wsgi.py does in production: long-lived objects leave the collector's scans
    print("| page | queries | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    measure("compounding queue page", lambda: tech.get("/pharmacy/queue/"), args.requests)
    measure("orders list API (50 a page)", lambda: doctor.get("/api/v1/orders/?page_size=50"), args.requests)
    measure("patient status page", lambda: patient.get(f"/s/{token}/", REMOTE_ADDR=next(addresses)), args.requests)
    prescriber = verified_client("dr.rivera")
    measure("prescriber home", lambda: prescriber.get("/prescriber/"), args.requests)
    pharmacist = verified_client("pharmacist")
    measure("verification queue page", lambda: pharmacist.get("/pharmacy/verify/"), args.requests)
    technician = APIClient()
    technician.force_authenticate(User.objects.get(username="tech"))
    measure("jobs API (the queue, 50 a page)", lambda: technician.get("/api/v1/jobs/"), args.requests)
    own = Order.objects.filter(prescriber__user__username="dr.rivera").exclude(status="draft").order_by("-created_at").first()
    measure("FHIR MedicationRequest search (one patient)",
            lambda: doctor.get(f"/fhir/r4/MedicationRequest?patient=Patient/{own.patient.public_id}"), args.requests)
    measure("metrics page, last 30 days", lambda: pharmacist.get("/pharmacy/metrics/"), max(20, args.requests // 5))


if __name__ == "__main__":
    main()
