"""Ten platforms' retries of one prescription at the same moment, with If-None-Exist, on PostgreSQL with real
threads: one order (the conditional create takes a lock on the clinic and identifier)."""

import threading

import pytest
from django.db import connection

from fulfillment.fhir import services
from orders.models import Order
from portal.demo import _demo_pharmacy, _demo_stock
from tests.fulfillment.fhir.builders import compound_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_conditional_creates_make_one_order(rivera, technician, formulary):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    _demo_pharmacy()
    _demo_stock(technician)
    barrier = threading.Barrier(10)
    answers, errors = [], []

    def create():
        try:
            barrier.wait()
            result = services.medication_request_create(user=rivera.user, raw=compound_request(rivera.npi),
                                                        if_none_exist="identifier=ehr-rx-1001")
            answers.append((result.status, result.resource["id"]))
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert len({resource_id for _, resource_id in answers}) == 1
    assert Order.objects.count() == 1
