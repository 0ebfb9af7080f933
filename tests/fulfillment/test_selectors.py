"""Fulfilment's reads take the caller: jobs and shipments are the pharmacy's (anyone else: not found), the job
page reads only the ready jobs of its patient at its address, and a clinic's webhook data is its own."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fulfillment import selectors
from fulfillment.models import Job, JobStatus, Shipment
from fulfillment.notifications import selectors as notification_selectors
from portal.errors import NotFound
from tests.builders import approve, released_job, submit

pytestmark = pytest.mark.django_db


def test_jobs_and_shipments_are_found_only_by_pharmacy_staff(api_as, rivera, chen, staff, technician, ready):
    _, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-SCOPE-1"}, format="json")
    shipment = Shipment.objects.get(tracking_number="SIM-SCOPE-1")
    assert selectors.job_get(user=technician, public_id=job["id"]).number == job["number"]
    assert selectors.shipment_get(user=technician, public_id=shipment.public_id) == shipment
    for outsider in (rivera.user, chen.user):
        with pytest.raises(NotFound):
            selectors.job_get(user=outsider, public_id=job["id"])
        with pytest.raises(NotFound):
            selectors.shipment_get(user=outsider, public_id=shipment.public_id)
    with pytest.raises(ValidationError):  # a malformed id: the request guard answers 400 (tests/security/test_f07)
        selectors.job_get(user=technician, public_id="not-a-uuid")


def test_the_job_page_reads_only_the_ready_jobs_of_its_patient_and_address(api_as, rivera, staff, technician, ready):
    _, first = released_job(api_as, rivera, staff)
    released_job(api_as, rivera, staff, first="Bo")  # another patient at the same address
    approve(staff, submit(api_as, rivera, first="Cy"))  # queued, not ready
    job = Job.objects.get(public_id=first["id"])
    assert [j.number for j in selectors.parcel_candidates(user=technician, job=job)] == [first["number"]]
    assert Job.objects.filter(status=JobStatus.READY).count() == 2
    with pytest.raises(NotFound):
        selectors.parcel_candidates(user=rivera.user, job=job)


def test_a_clinics_webhook_data_is_its_own(api_as, rivera, chen, staff, ready, settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    endpoint = api_as(rivera.user).post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "event_types": ["order.status_changed"]},
                                        format="json").json()
    submit(api_as, rivera)
    mine = notification_selectors.endpoint_get(user=rivera.user, public_id=endpoint["id"])
    deliveries = notification_selectors.delivery_list(user=rivera.user, endpoint=mine)
    assert deliveries and notification_selectors.event_feed(user=rivera.user, after=0)
    with pytest.raises(NotFound):
        notification_selectors.endpoint_get(user=chen.user, public_id=endpoint["id"])
    with pytest.raises(NotFound):
        notification_selectors.delivery_get(user=chen.user, public_id=deliveries[0].public_id)
    assert notification_selectors.event_feed(user=chen.user, after=0) == []
