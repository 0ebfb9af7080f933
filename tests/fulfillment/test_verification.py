"""Verification through the staff API: approve (every warning acknowledged), reject, ask to clarify."""

from __future__ import annotations

import pytest

from fulfillment.models import Job
from tests.builders import approve, submit

pytestmark = pytest.mark.django_db


# --- Verification ---------------------------------------------------------------------------

def test_approval_needs_every_warning_acknowledged_and_makes_one_job_per_preparation(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    refused = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": []}, format="json")
    assert refused.status_code == 400 and "AW_NOT_MEASURED" in refused.json()["error"]["message"]
    approved = approve(staff, order)
    assert approved["status"] == "approved" and approved["preparations"][0]["status"] == "queued"
    assert Job.objects.filter(preparation__order__public_id=order["id"]).count() == 1


def test_technician_cannot_approve_and_prescriber_cannot_use_staff_endpoints(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    assert staff["tech"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]},
                              format="json").status_code == 409
    doctor = api_as(rivera.user)
    for url in ("/api/v1/jobs/", "/api/v1/jobs/claim-next/", f"/api/v1/orders/{order['id']}/approve/"):
        assert (doctor.get(url) if url.endswith("jobs/") else doctor.post(url, {}, format="json")).status_code == 403


def test_reject_and_clarify(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    assert staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/reject/", {}, format="json").status_code == 400
    asked = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/request-clarification/", {"question": "Which arm?"}, format="json")
    assert asked.json()["status"] == "clarification_requested"
    other = submit(api_as, rivera, first="Bo")
    rejected = staff["pharmacist"].post(f"/api/v1/orders/{other['id']}/reject/", {"reason": "Duplicate of an order"}, format="json")
    assert rejected.json()["status"] == "rejected"
