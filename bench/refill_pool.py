"""The refill target's pool for bench/throughput.sh: preparations that a refill request may be made for, one per request.

A refill request makes the preparation's next fill (a queued job), and then that preparation refuses another one
(FILL_IN_PROGRESS) until the fill ships; so a throughput run of refill requests needs one ready preparation per
request. This makes them:

1. one template through the portal's own doors, in this process (the API, as the people who do it): dr.rivera submits
   an order of one preparation with 11 refills; the pharmacist approves its master formulation record and the order;
   the technician claims the job, the worksheet is rendered, the record, QC and the pharmacist's release follow, and
   it ships. Its signature and shipment are then dated 30 days back (past the 21 days REFILL_TOO_SOON asks after a
   shipment), so a refill of it is allowed today.
2. --size copies of that order, its preparation, its shipped job and its shipment, in bulk (new ids, numbers and
   tracking numbers; the same patient, prescriber and approved record). Each copy is what the template is: a
   prescription whose refill request the portal accepts (checked: the first copy's refill is asked for in a
   transaction rolled back, and must be 201).

The ids (the preparations' public ids) go to --out, one a line, for bench/wrk_post.lua's refill target.

    DATABASE_URL=… BENCH_ENDPOINTS=1 DEBUG=0 .venv/bin/python bench/refill_pool.py --size 3000 --out var/load/refill-pool.txt
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402 - after Django is set up

django.setup()
from django.db import transaction  # noqa: E402 - after Django is set up
from django.test.utils import setup_test_environment  # noqa: E402 - after Django is set up
from django.utils import timezone  # noqa: E402 - after Django is set up
from rest_framework.test import APIClient  # noqa: E402 - after Django is set up

from fulfillment import rendering  # noqa: E402 - after Django is set up
from fulfillment.models import Job, Shipment, Worksheet  # noqa: E402 - after Django is set up
from orders.models import Order, Preparation  # noqa: E402 - after Django is set up
from portal.models import User  # noqa: E402 - after Django is set up
from portal.services import api_token_issue  # noqa: E402 - after Django is set up
from tests.builders import record_body  # noqa: E402 - after Django is set up

PREPARATION = {"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply a thin layer nightly.",
               "refills": 11, "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]}
ORDER = {"patient": {"first_name": "Refill", "last_name": "Pool", "date_of_birth": "1990-01-01"},
         "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94607"}, "preparations": [PREPARATION]}
BACK = dt.timedelta(days=30)


def client(username: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=User.objects.get(username=username))}")
    return api


def ok(response, status=(200, 201)):
    assert response.status_code in ((status,) if isinstance(status, int) else status), (response.status_code, response.content[:500])
    return response.json() if response.content else None


def template() -> Order:
    """One order made, approved, filled and shipped through the API, dated 30 days back."""
    doctor, pharmacist, tech = client("dr.rivera"), client("pharmacist"), client("tech")
    order = ok(doctor.post("/api/v1/orders/", ORDER, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())), 201)
    for prep in order["preparations"]:
        if prep.get("mfr") and ok(pharmacist.get(f"/api/v1/mfrs/{prep['mfr']['id']}/"))["status"] == "draft":
            ok(pharmacist.post(f"/api/v1/mfrs/{prep['mfr']['id']}/approve/"))
    warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"] if f["severity"] == "warning"})
    ok(pharmacist.post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": warnings}, format="json"))
    job = Job.objects.get(preparation__public_id=order["preparations"][0]["id"], fill=0)
    ok(tech.post(f"/api/v1/jobs/{job.public_id}/claim/"))
    rendering.worksheet_render(worksheet_id=Worksheet.objects.filter(job=job).order_by("-version").first().pk)
    # every weighing at its worksheet weight, as the tests record one
    ok(tech.post(f"/api/v1/jobs/{job.public_id}/record/", record_body(job.public_id), format="json"))
    ok(tech.post(f"/api/v1/jobs/{job.public_id}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json"))
    ok(pharmacist.post(f"/api/v1/jobs/{job.public_id}/verify/"))
    ok(tech.post("/api/v1/shipments/", {"jobs": [str(job.public_id)], "carrier": "simulated", "service": "Ground",
                                        "tracking_number": f"BENCH-{secrets.token_hex(6)}"}, format="json"), 201)
    order = Order.objects.get(public_id=order["id"])
    Order.objects.filter(pk=order.pk).update(signed_at=order.signed_at - BACK)
    job.refresh_from_db()
    Shipment.objects.filter(pk=job.shipment_id).update(shipped_at=job.shipment.shipped_at - BACK)
    return Order.objects.get(pk=order.pk)


def _copy(obj, **changes):
    """An unsaved copy of a row: every concrete column but the primary key, with `changes`."""
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}
    values.update(changes)
    return type(obj)(**values)


def copies(order: Order, size: int) -> list[str]:
    prep = Preparation.objects.get(order=order)
    job = Job.objects.get(preparation=prep, fill=0)
    shipment = Shipment.objects.get(pk=job.shipment_id)
    run = secrets.token_hex(3)
    ids = []
    for start in range(0, size, 500):
        n = range(start, min(size, start + 500))
        with transaction.atomic():
            orders = Order.objects.bulk_create([_copy(order, public_id=uuid.uuid4(), number=f"RB-{run}-{i:06d}") for i in n])
            preps = Preparation.objects.bulk_create([_copy(prep, public_id=uuid.uuid4(), order_id=o.pk) for o in orders])
            ships = Shipment.objects.bulk_create([_copy(shipment, public_id=uuid.uuid4(), tracking_number=f"RB-{run}-{i:06d}")
                                                  for i in n])
            Shipment.orders.through.objects.bulk_create([Shipment.orders.through(shipment_id=s.pk, order_id=o.pk)
                                                         for s, o in zip(ships, orders)])
            Job.objects.bulk_create([_copy(job, public_id=uuid.uuid4(), number=f"{o.number}-{prep.position}", preparation_id=p.pk,
                                           shipment_id=s.pk) for o, p, s in zip(orders, preps, ships)])
        ids += [str(p.public_id) for p in preps]
    return ids


def check(public_id: str) -> None:
    """A copy takes a refill request (201), in a transaction rolled back so that it stays in the pool."""
    with transaction.atomic():
        response = client("dr.rivera").post(f"/api/v1/preparations/{public_id}/refills/", {}, format="json")
        assert response.status_code == 201, (response.status_code, response.content[:500])
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    setup_test_environment()
    order = template()
    ids = copies(order, args.size)
    check(ids[0])
    Path(args.out).write_text("\n".join(ids) + "\n")
    print(f"{len(ids)} preparations ready for a refill ({timezone.now():%H:%M:%S}), in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
