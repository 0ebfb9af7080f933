"""Benchmark: our worksheet task against WeasyPrint rendering the same HTML alone.

Uses the configured database (DATABASE_URL, or `make run`'s SQLite) after migrating and loading
the demo data; makes one approved, claimed job to render. Usage:
    .venv/bin/python bench/worksheet_render.py [--renders 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402
from weasyprint import HTML  # noqa: E402

from fulfillment import documents, rendering  # noqa: E402
from fulfillment.models import Job, Worksheet  # noqa: E402
from portal.models import User  # noqa: E402


def a_job() -> Job:
    call_command("migrate", verbosity=0)
    call_command("demo_data", stdout=open(os.devnull, "w"))
    doctor, pharmacist = APIClient(), APIClient()
    doctor.force_authenticate(User.objects.get(username="dr.rivera"))
    pharmacist.force_authenticate(User.objects.get(username="pharmacist"))
    body = {"patient": {"first_name": "Bench", "last_name": "Mark", "date_of_birth": "1990-01-01"},
            "ship_to": {"line1": "1 A St", "city": "Oakland", "state": "CA", "postal_code": "94607"},
            "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
                              "ingredients": [{"ingredient": c, "percent": p} for c, p in
                                              (("pe9010", 1), ("niacinamide", 4), ("bifida-ferment-lysate", 2), ("panthenol", 1),
                                               ("allantoin", "0.2"), ("ceramide-np", 1))]}]}
    order = doctor.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"]})
    pharmacist.post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": warnings}, format="json")
    return Job.objects.get(preparation__order__public_id=order["id"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    job = a_job()
    html = render_to_string("fulfillment/worksheet_pdf.html", documents.worksheet_context(job, 1))
    HTML(string=html).write_pdf()  # warm up fonts
    bare, ours = [], []
    for i in range(args.renders):
        start = time.perf_counter()
        HTML(string=html, base_url="about:blank").write_pdf()
        bare.append(time.perf_counter() - start)
        worksheet = Worksheet.objects.create(job=job, version=1000 + i)
        start = time.perf_counter()
        rendering.worksheet_render(worksheet_id=worksheet.pk)
        ours.append(time.perf_counter() - start)
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"renders: {args.renders}")
    print(f"WeasyPrint alone, same HTML: median {b * 1000:.0f} ms")
    print(f"our task (load, context, template, render, store): median {o * 1000:.0f} ms")
    print(f"overhead: {(o / b - 1) * 100:.1f} %  ({60 / o:.0f} worksheets/minute per worker process)")


if __name__ == "__main__":
    main()
