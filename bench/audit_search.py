"""Benchmark: the pharmacy admin's audit search and CSV export over a large history.

Run after `BENCH_ENDPOINTS=1 manage.py generate_orders --orders 20000` on PostgreSQL (its bulk inserts go through the
history triggers too), e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_audit .venv/bin/python bench/audit_search.py
Measures in process (Django's test client, no network): the page searched by patient, by user over
30 days, and unfiltered (newest 200); p50/p95 over --requests runs with the query count; and the CSV
export of one patient's whole history, in rows per second."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scale import measure, verified_client  # noqa: E402 - sets Django up

from django.apps import apps  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from orders.models import Order  # noqa: E402
from portal.audit import HISTORY_MODELS  # noqa: E402
from portal.models import AccessEvent  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    setup_test_environment()
    history = sum(apps.get_model(app, name).objects.count() for app, name in HISTORY_MODELS)
    print(f"orders: {Order.objects.count():,}; history rows: {history:,}; access events: {AccessEvent.objects.count():,}")
    admin = verified_client("admin")
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
