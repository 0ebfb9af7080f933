"""Claims: the next job by priority and age, giving a claim back, and claims that expire."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fulfillment.models import Job
from orders.models import Order
from orders.selectors import order_history
from tests.builders import approve, submit

pytestmark = pytest.mark.django_db


# --- Claims ------------------------------------------------------------------------------

def test_claim_next_takes_priority_then_age_and_release_returns_it(api_as, rivera, staff, ready):
    first, second = submit(api_as, rivera, first="A"), submit(api_as, rivera, first="B")
    approve(staff, first)
    approve(staff, second)
    Job.objects.filter(preparation__order__public_id=second["id"]).update(priority=5)
    claimed = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    assert claimed["order"] == second["id"] and claimed["status"] == "compounding" and claimed["claimed_by"] == "techie"
    released = staff["tech"].post(f"/api/v1/jobs/{claimed['id']}/release/").json()
    assert released["status"] == "queued" and released["claimed_by"] is None
    # the history says what happened in the words the pages use: given back, not released (the pharmacist's final check)
    order = Order.objects.get(public_id=second["id"])
    sentences = [line["text"] for line in order_history(order=order)]
    assert any(text.startswith("Preparation 1: given back to the queue by") for text in sentences), sentences
    assert not any("release" in text.lower() for text in sentences), sentences
    assert staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"] == claimed["id"]
    staff["tech"].post("/api/v1/jobs/claim-next/")
    empty = staff["tech"].post("/api/v1/jobs/claim-next/")
    assert empty.status_code == 404 and empty.json()["error"]["code"] == "queue_empty"


def test_expired_claims_return_to_the_queue(api_as, rivera, staff, ready):
    from fulfillment.upkeep import claims_expire

    order = submit(api_as, rivera)
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    assert claims_expire(now=timezone.now() + dt.timedelta(hours=2)) == 1
    assert Job.objects.get(public_id=job["id"]).status == "queued"
