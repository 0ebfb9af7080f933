"""Benchmark: POST /api/v1/orders/validate/ in process: query count and time for 1, 10 and 30 ingredients.

Runs against the configured database (DATABASE_URL, or the SQLite file of `make run`), after
migrating and loading the demo data (idempotent). Usage:
    .venv/bin/python bench/validate_endpoint.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
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

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench.rules_engine import build  # noqa: E402
from formulary.rules_facts_builder import formulary_facts  # noqa: E402
from portal.models import User  # noqa: E402
from portal.services import api_token_issue  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("demo_data", stdout=open(os.devnull, "w"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=User.objects.get(username='dr.rivera'), name='bench')}")
    facts = formulary_facts()
    print(f"database: {connection.vendor}")
    print("| ingredients | queries | mean ms | p95 ms |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (1, 10, 30):
        prep = build(n, facts)
        body = {
            "patient": {"first_name": "Bench", "last_name": "Patient"},
            "ship_to": {"state": "CA"},
            "preparations": [{"base": prep.base, "quantity": 100, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
                              "ingredients": [{"ingredient": line.code, "percent": str(line.percent)} for line in prep.ingredients]}],
        }
        payload = json.dumps(body)
        client.post("/api/v1/orders/validate/", payload, content_type="application/json")
        executed = []
        with connection.execute_wrapper(lambda execute, sql, params, many, context: executed.append(sql) or execute(sql, params, many, context)):
            response = client.post("/api/v1/orders/validate/", payload, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        samples = []
        for _ in range(args.requests):
            start = time.perf_counter()
            client.post("/api/v1/orders/validate/", payload, content_type="application/json")
            samples.append(time.perf_counter() - start)
        p95 = sorted(samples)[int(len(samples) * 0.95)]
        print(f"| {n} | {len(executed)} | {statistics.fmean(samples) * 1000:.2f} | {p95 * 1000:.2f} |")


if __name__ == "__main__":
    main()
