"""Every list endpoint and page asks the database the same number of questions for 1 row as for 50
(issue 22): the orders list API, the pharmacy's queue and verification pages, the jobs API, the
patient's status page, the prescriber's home, the metrics page and the FHIR searches. (The orders and
patients pages and the patients API have theirs in tests/orders.)

The first order goes through the API as a prescriber sends it and the pharmacist approves it; the
other 49 rows are copies of its rows (the count of queries is what is measured, not the rules)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fulfillment.models import Job
from orders.models import Order, OrderEvent, Preparation
from orders.patient_links import link_token, patient_link_issue
from tests.builders import approve, submit
from tests.conftest import PASSWORD
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # warm: sessions, caches and the formulary's revision
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **extra)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


def copies(order: Order, n: int) -> list[Order]:
    """n more orders like `order`: its row, its own events, its preparations and their jobs, each with new ids and numbers."""
    made = []
    preps = list(Preparation.objects.filter(order=order))
    events = list(OrderEvent.objects.filter(order=order, preparation__isnull=True))
    jobs = {job.preparation_id: job for job in Job.objects.filter(preparation__order=order)}
    for i in range(n):
        copy = Order.objects.get(pk=order.pk)
        copy.pk, copy.public_id, copy.number = None, uuid.uuid4(), f"RX-0000-{uuid.uuid4().int % 10**6:06d}"
        copy.external_id = f"COPY-{i}"
        copy.save()
        OrderEvent.objects.bulk_create([OrderEvent(order=copy, sequence=e.sequence, kind=e.kind, from_status=e.from_status,
                                                   to_status=e.to_status, actor=e.actor, message=e.message) for e in events])
        for prep in preps:
            job = jobs.get(prep.pk)
            prep_copy = Preparation.objects.get(pk=prep.pk)
            prep_copy.pk, prep_copy.public_id, prep_copy.order = None, uuid.uuid4(), copy
            prep_copy.save()
            if job is not None:
                job_copy = Job.objects.get(pk=job.pk)
                job_copy.pk, job_copy.public_id, job_copy.preparation = None, uuid.uuid4(), prep_copy
                job_copy.number = f"{copy.number}-{prep_copy.position}"
                job_copy.save()
        made.append(copy)
    return made


@pytest.fixture
def orders(api_as, rivera, staff, ready):
    """One approved order (its job queued) and one waiting for verification, both Dr Rivera's."""
    approved = submit(api_as, rivera, first="Ana")
    approve(staff, approved)
    waiting = submit(api_as, rivera, first="Ben")
    return Order.objects.get(public_id=approved["id"]), Order.objects.get(public_id=waiting["id"])


def signed_in(user) -> Client:
    return sign_in(Client(), user, PASSWORD)


def one_and_fifty(count, grow) -> tuple[int, int]:
    one = count()
    grow()
    return one, count()


def test_orders_list_api(api_as, rivera, orders):
    client = api_as(rivera.user)
    one, many = one_and_fifty(lambda: queries(client, "/api/v1/orders/?page_size=50"), lambda: copies(orders[0], 49))
    assert one == many


def test_queue_page_and_jobs_api(api_as, technician, orders):
    page, api = signed_in(technician), api_as(technician)

    def count():
        return queries(page, "/pharmacy/queue/"), queries(api, "/api/v1/jobs/")

    one, many = one_and_fifty(count, lambda: copies(orders[0], 49))
    assert Job.objects.filter(status="queued").count() == 50 and one == many


def test_verification_queue_page(pharmacist, orders):
    page = signed_in(pharmacist)
    one, many = one_and_fifty(lambda: queries(page, "/pharmacy/verify/"), lambda: copies(orders[1], 49))
    assert one == many


def test_patient_status_page(orders):
    """One order's page, with 1 preparation and then 50 (each its own job)."""
    order = orders[0]
    token = link_token(patient_link_issue(order=order))
    patient = Client()
    confirmed = patient.post(f"/s/{token}/", {"date_of_birth": order.patient.date_of_birth.isoformat()})
    assert confirmed.status_code == 302  # confirmed: the counts below are of the order's page, not the date-of-birth form
    assert 'data-testid="timeline"' in patient.get(f"/s/{token}/").content.decode()

    def grow():
        prep = Preparation.objects.get(order=order)
        job = Job.objects.get(preparation=prep)
        for position in range(2, 51):
            prep.pk, prep.public_id, prep.position = None, uuid.uuid4(), position
            prep.save()
            job.pk, job.public_id, job.preparation, job.number = None, uuid.uuid4(), prep, f"{order.number}-{position}"
            job.save()

    one, many = one_and_fifty(lambda: queries(patient, f"/s/{token}/"), grow)
    assert order.preparations.count() == 50 and one == many


def test_prescriber_home(rivera, orders):
    page = signed_in(rivera.user)

    def grow():
        copies(orders[0], 24)
        copies(orders[1], 25)

    one, many = one_and_fifty(lambda: queries(page, "/prescriber/"), grow)
    assert one == many


def test_metrics_page(pharmacist, orders):
    page = signed_in(pharmacist)
    one, many = one_and_fifty(lambda: queries(page, "/pharmacy/metrics/"), lambda: copies(orders[0], 49))
    assert one == many


def test_fhir_searches(api_as, rivera, orders):
    client = api_as(rivera.user)
    patient = orders[0].patient

    def count():
        return queries(client, "/fhir/r4/MedicationRequest"), queries(client, f"/fhir/r4/MedicationRequest?patient=Patient/{patient.public_id}")

    one, many = one_and_fifty(count, lambda: copies(orders[0], 49))
    assert Order.objects.filter(clinic=rivera.clinic).count() == 51 and one == many
