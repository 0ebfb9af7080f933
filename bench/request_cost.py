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
    parser.add_argument("--refill-pool", help="also the refill request, one preparation of this pool (bench/refill_pool.py --out) "
                                              "each; the pool needs --requests + 5 ids")
    parser.add_argument("--refill-skip", type=int, default=0, help="ids of the pool used by an earlier run")
    parser.add_argument("--trigger-cost", action="store_true",
                        help="Submit only, alternating batches with the change-history triggers on and off (ALTER TABLE … "
                             "DISABLE TRIGGER USER on the tracked tables, re-enabled at the end): what the triggers cost, "
                             "as a ratio measured under the same load. Only on a benchmark database.")
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
    if args.trigger_cost:
        trigger_cost(calls["orders (submit)"][0], requests=args.requests)
        return
    if args.refill_pool:
        pool = iter(Path(args.refill_pool).read_text().split()[args.refill_skip:])
        calls["refill request"] = (lambda: client.post(f"/api/v1/preparations/{next(pool)}/refills/", "{}",
                                                       content_type="application/json"), 201)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    print("| request | p50 ms | mean ms | share of the bare insert's requests/s | queries |")
    print("| --- | ---: | ---: | ---: | ---: |")
    bare = None
    for label, (call, status) in calls.items():
        for _ in range(4):
            response = call()
            assert response.status_code == status, (label, response.status_code, response.content[:300])
        samples = []
        for _ in range(args.requests):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        mean = statistics.fmean(samples)
        bare = bare or mean
        with CaptureQueriesContext(connection) as queries:
            call()
        print(f"| {label} | {statistics.median(samples) * 1000:.1f} | {mean * 1000:.1f} | {100 * bare / mean:.0f} % "
              f"| {len(queries.captured_queries)} |")


def trigger_cost(call, *, requests: int, batches: int = 6) -> None:
    """Submit with the history triggers on and off in alternating batches (the load on a shared machine drifts; the
    batches see the same drift), then the p50 and mean of each and their ratio."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE NOT t.tgisinternal AND t.tgname LIKE 'pgtrigger_%%' AND c.relname NOT LIKE '%%history'")
        tables = [row[0] for row in cursor.fetchall()]

    def triggers(state: str) -> None:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f'ALTER TABLE "{table}" {state} TRIGGER USER')

    samples: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for _ in range(5):
            call()
        for batch in range(batches * 2):
            state = "on" if batch % 2 == 0 else "off"
            triggers("ENABLE" if state == "on" else "DISABLE")
            call()  # the first after the change re-plans
            for _ in range(max(1, requests // batches)):
                start = time.perf_counter()
                call()
                samples[state].append(time.perf_counter() - start)
    finally:
        triggers("ENABLE")
    on, off = samples["on"], samples["off"]
    print("| submit | p50 ms | mean ms |")
    print("| --- | ---: | ---: |")
    for label, values in (("history triggers on", on), ("history triggers off", off)):
        print(f"| {label} | {statistics.median(values) * 1000:.1f} | {statistics.fmean(values) * 1000:.1f} |")
    print(f"on / off: p50 {statistics.median(on) / statistics.median(off):.2f}, mean {statistics.fmean(on) / statistics.fmean(off):.2f} "
          f"({len(tables)} tables' triggers, {len(on)} + {len(off)} requests)")


if __name__ == "__main__":
    main()
