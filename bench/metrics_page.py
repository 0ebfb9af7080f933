"""Benchmark: server time of the pharmacy metrics page and its API at scale.

Run after `manage.py generate_orders --orders 100000` on PostgreSQL (its own database), e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_i21 BENCH_ENDPOINTS=1 \
        .venv/bin/python bench/metrics_page.py --requests 100
In process (Django's test client: no network), p50/p95 over --requests runs and the query count, for
the default range (the last 30 days), a quarter and a whole year."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402

django.setup()
from django.db import connection  # noqa: E402 (after django.setup)
from django.test.utils import setup_test_environment  # noqa: E402 (after django.setup)
from django.utils import timezone  # noqa: E402 (after django.setup)

from bench.scale import measure, verified_client  # noqa: E402 (after django.setup)
from fulfillment.models import Job, Shipment  # noqa: E402 (after django.setup)
from orders.models import Order  # noqa: E402 (after django.setup)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    setup_test_environment()
    print(f"orders: {Order.objects.count():,}; jobs: {Job.objects.count():,}; shipments: {Shipment.objects.count():,}; "
          f"database: {connection.vendor}")
    pharmacist = verified_client("pharmacist")
    today = timezone.localdate()
    import gc

    from portal.gc_tuning import gc_tune

    gc_tune()
    gc.freeze()
    print("| request | queries | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    measure("metrics page, last 30 days (the default)", lambda: pharmacist.get("/pharmacy/metrics/"), args.requests)
    quarter = f"?from={today - dt.timedelta(days=89)}&to={today}"
    measure("metrics page, last 90 days", lambda: pharmacist.get(f"/pharmacy/metrics/{quarter}"), args.requests)
    year = f"?from={today - dt.timedelta(days=364)}&to={today}"
    measure("metrics page, last 12 months", lambda: pharmacist.get(f"/pharmacy/metrics/{year}"), max(10, args.requests // 5))
    measure("metrics API, last 30 days", lambda: pharmacist.get("/api/v1/metrics/"), args.requests)
    measure("metrics CSV, last 30 days", lambda: pharmacist.get("/pharmacy/metrics.csv"), max(10, args.requests // 5))


if __name__ == "__main__":
    main()
