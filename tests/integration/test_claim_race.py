"""Two technicians press "claim next" at the same moment, on PostgreSQL with real threads."""

import uuid

import pytest
from django.db import connection

from fulfillment.models import Job
from fulfillment.services import job_claim_next
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import approve_mfrs, at_once
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_claims_get_distinct_jobs(api_as, rivera, pharmacist, technician, formulary):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    _demo_pharmacy()
    _demo_stock(technician)
    body = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply twice daily."}] * 20}
    order = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    approve_mfrs(api_as(pharmacist), order)  # twenty preparations of one formulation: one record
    api_as(pharmacist).post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    technicians = [UserFactory(username=f"tech{i}", role="technician") for i in range(20)]
    claimed, errors = at_once(*(lambda user=user: job_claim_next(by=user).pk for user in technicians))
    print(f"\n20 concurrent claim-next: {len(claimed)} claimed, {len(set(claimed))} distinct, errors {errors}")
    assert errors == []
    assert len(claimed) == len(set(claimed)) == 20
    assert Job.objects.filter(status="compounding").count() == 20
    assert len(set(Job.objects.values_list("claimed_by", flat=True))) == 20
