"""Auto-refill (issue 18) with time moved, not waited for: a preparation with "refill every 30 days" gets exactly
one refill per interval, even with two beat ticks racing (real threads on PostgreSQL); the patient's pause stops
it; and the beat's task runs in a real Celery worker process."""

import datetime as dt
import re
import threading
import time

import pytest
from django.db import connection

from fulfillment.models import Job
from fulfillment.refills import auto_refills_request
from fulfillment.tasks import request_auto_refills
from orders.models import Preparation, RefillRequest
from orders.services import preparation_auto_refill_pause
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import released_job
from tests.fulfillment.test_refills import fill_and_ship

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
START = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc)


def ticks_racing(today, n=2):
    """n beat ticks at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def tick():
        try:
            barrier.wait()
            results.append(auto_refills_request(today=today))
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def every_30_days(api_as, rivera, pharmacist, technician, refills=3):
    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=refills, refill_interval_days=30)
    assert staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                     "tracking_number": "SIM-AUTO-00"}, format="json").status_code == 201
    return staff, order, Preparation.objects.get(public_id=order["preparations"][0]["id"])


def test_one_refill_per_interval_even_with_racing_ticks(api_as, rivera, pharmacist, technician, formulary, time_machine):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    time_machine.move_to(START, tick=False)
    staff, order, prep = every_30_days(api_as, rivera, pharmacist, technician)
    assert order["preparations"][0]["refill_interval_days"] == 30
    day = START.date()

    assert auto_refills_request(today=day + dt.timedelta(days=20)) == {"requested": 0, "skipped": {"REFILL_TOO_SOON": 1}}
    results = ticks_racing(day + dt.timedelta(days=21))  # due: 70 % of 30 days after it shipped
    print(f"\nday 21, two ticks: {results}")
    assert sum(r["requested"] for r in results) == 1
    assert RefillRequest.objects.filter(preparation=prep).count() == 1
    refill = RefillRequest.objects.get(preparation=prep)
    assert refill.fill == 1 and refill.source == "auto" and refill.requested_by is None
    assert auto_refills_request(today=day + dt.timedelta(days=22))["requested"] == 0  # the fill is being made

    time_machine.move_to(START + dt.timedelta(days=23), tick=False)
    fill_and_ship(staff, str(Job.objects.get(preparation=prep, fill=1).public_id), "SIM-AUTO-01")
    assert Preparation.objects.get(pk=prep.pk).refills_remaining == 2
    assert auto_refills_request(today=day + dt.timedelta(days=43))["requested"] == 0  # 23 + 21 = 44
    results = ticks_racing(day + dt.timedelta(days=44), n=3)
    assert sum(r["requested"] for r in results) == 1 and RefillRequest.objects.filter(preparation=prep).count() == 2

    time_machine.move_to(START + dt.timedelta(days=45), tick=False)
    fill_and_ship(staff, str(Job.objects.get(preparation=prep, fill=2).public_id), "SIM-AUTO-02")
    preparation_auto_refill_pause(preparation=Preparation.objects.get(pk=prep.pk), paused=True)  # the patient pauses
    assert auto_refills_request(today=day + dt.timedelta(days=80))["requested"] == 0
    preparation_auto_refill_pause(preparation=Preparation.objects.get(pk=prep.pk), paused=False)
    assert auto_refills_request(today=day + dt.timedelta(days=80))["requested"] == 1
    assert list(RefillRequest.objects.filter(preparation=prep).values_list("fill", flat=True)) == [1, 2, 3]


def test_the_beat_task_runs_in_a_real_worker(api_as, rivera, pharmacist, technician, formulary, celery_worker_process, time_machine):
    time_machine.move_to(START, tick=True)
    staff, order, prep = every_30_days(api_as, rivera, pharmacist, technician, refills=1)
    request_auto_refills.delay(today=(START.date() + dt.timedelta(days=10)).isoformat())  # too soon: nothing
    request_auto_refills.delay(today=(START.date() + dt.timedelta(days=21)).isoformat())
    request_auto_refills.delay(today=(START.date() + dt.timedelta(days=21)).isoformat())  # a second delivery: harmless
    # Wait until the worker says all three ran (the log lines Celery writes when a task ends), not a fixed time.
    deadline, done = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        log = celery_worker_process.log_path.read_text()
        done = re.findall(r"request_auto_refills\[[0-9a-f-]+\] succeeded", log)
        if len(done) >= 3 or re.search(r"request_auto_refills\[[0-9a-f-]+\] raised", log):
            break
        time.sleep(0.3)
    assert len(done) == 3, log[-3000:]
    assert Job.objects.filter(preparation=prep, fill=1).count() == 1, log[-3000:]
    assert Job.objects.filter(preparation=prep).count() == 2
