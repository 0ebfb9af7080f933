"""Benchmark: the server cost of a bare authenticated insert, validate and submit, in process.

bench/throughput.sh measures requests per second through gunicorn and wrk; on a shared, loaded machine
that figure is dominated by whatever else runs, and includes a connection per request (gunicorn's sync
workers close every connection) and the HTTP parsing. This measures what the
application itself spends: the same three requests, one after another, in this process (Django's test
client: every middleware, DRF, PostgreSQL), p50 and mean over --requests, and each one's share of the
bare insert's requests per second (bare time / its time).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_tp_i22 BENCH_ENDPOINTS=1 DEBUG=0 \\
        ORDER_CREATE_PER_MINUTE=100000000 .venv/bin/python bench/request_cost.py --requests 200
Runs after `manage.py migrate` and `manage.py demo_data` on that database (bench/throughput.sh does both)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402 - after Django is set up

django.setup()
from django.test.utils import setup_test_environment  # noqa: E402 - after Django is set up
from rest_framework.test import APIClient  # noqa: E402 - after Django is set up

from portal.models import User  # noqa: E402 - after Django is set up

# The body of bench/wrk_post.lua: 3 preparations of 6 ingredients.
PREPARATION = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply a thin layer nightly.",
               "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4},
                               {"ingredient": "panthenol", "percent": 1}, {"ingredient": "allantoin", "percent": 0.5},
                               {"ingredient": "glycerin", "percent": 3}, {"ingredient": "ceramide-np", "percent": 1}]}
ORDER = {"patient": {"first_name": "Bench", "last_name": "Mark", "date_of_birth": "1990-01-01"},
         "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94607"},
         "preparations": [PREPARATION] * 3}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    setup_test_environment()
    import gc

    from portal.gc_tuning import gc_tune

    gc_tune()  # as gunicorn.conf.py's post_fork does
    gc.freeze()  # as portal/wsgi.py does
    client = APIClient()
    client.force_authenticate(User.objects.get(username="dr.rivera"))
    body = json.dumps(ORDER)
    calls = {
        "bare insert": (lambda: client.post("/api/v1/bench/bare/", "{}", content_type="application/json"), 201),
        "orders/validate": (lambda: client.post("/api/v1/orders/validate/", body, content_type="application/json"), 200),
        "orders (submit)": (lambda: client.post("/api/v1/orders/", body, content_type="application/json",
                                                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())), 201),
    }
    print("| request | p50 ms | mean ms | share of the bare insert's requests/s |")
    print("| --- | ---: | ---: | ---: |")
    bare = None
    for label, (call, status) in calls.items():
        for _ in range(5):
            response = call()
            assert response.status_code == status, (label, response.status_code, response.content[:300])
        samples = []
        for _ in range(args.requests):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        mean = statistics.fmean(samples)
        bare = bare or mean
        print(f"| {label} | {statistics.median(samples) * 1000:.1f} | {mean * 1000:.1f} | {100 * bare / mean:.0f} % |")


if __name__ == "__main__":
    main()
