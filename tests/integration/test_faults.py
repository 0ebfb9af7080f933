"""Fault injection on the real services: worker children and whole workers killed mid-render, Redis
stopped while orders come in, the same task delivered twice at once, approve and cancel racing.
Each test says what it injected and what it counted."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from django.db import connection

from fulfillment.models import Job, RenderStatus, Worksheet
from orders.models import Order
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import approve_mfrs
from tests.integration.conftest import start_worker, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _redis_port() -> str:
    """The port of the suite's broker (6379 in CI; another when several checkouts test side by side)."""
    from urllib.parse import urlsplit

    from django.conf import settings

    return str(urlsplit(settings.CELERY_BROKER_URL).port or 6379)


def redis_start() -> list[str]:
    port = _redis_port()
    return ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", port, "--save", "", "--appendonly", "no",
            "--dir", "/var/lib/redis", "--logfile", f"/var/log/redis/ci-{port}.log"]


def redis_cli(*args: str) -> list[str]:
    return ["redis-cli", "-h", "127.0.0.1", "-p", _redis_port(), *args]


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[fault] {line}")


def wait(predicate, timeout=90.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


@pytest.fixture
def shop(api_as, rivera, pharmacist, technician, formulary):
    _demo_pharmacy()
    _demo_stock(technician)
    clients = {"doctor": api_as(rivera.user), "pharmacist": api_as(pharmacist), "tech": api_as(technician)}

    def approved_order(first="Maya"):
        body = {"patient": {"first_name": first, "last_name": "Lopez", "date_of_birth": "1991-04-12"},
                "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
                "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply twice daily.", "target_ph": 5.0,
                                  "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]}]}
        response = clients["doctor"].post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        assert response.status_code == 201, response.content
        order = response.json()
        approve_mfrs(clients["pharmacist"], order)
        assert clients["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]},
                                          format="json").status_code == 200
        return order

    clients["approved_order"] = approved_order
    return clients


def claim_and_kill_mid_render(shop, worker, *, whole: bool):
    shop["approved_order"]()
    job = shop["tech"].post("/api/v1/jobs/claim-next/").json()
    rendering = wait(lambda: Worksheet.objects.filter(job__public_id=job["id"], status=RenderStatus.RENDERING).exists(), timeout=30,
                     every=0.01)
    assert rendering, "the render never started"
    victims = children(worker.pid) + ([worker.pid] if whole else [])
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    return job, victims


def test_kill_a_worker_child_mid_render(shop, celery_worker_process, beat_process, capsys):
    job, victims = claim_and_kill_mid_render(shop, celery_worker_process, whole=False)
    ready = wait(lambda: Worksheet.objects.filter(job__public_id=job["id"], status=RenderStatus.READY).first(), timeout=90, every=0.5)
    rows = Worksheet.objects.filter(job__public_id=job["id"])
    report(capsys, f"killed worker child(ren) {victims} mid-render; counted {rows.count()} worksheet row(s), "
                   f"status {[w.status for w in rows]}, attempts {[w.attempts for w in rows]}")
    assert ready is not None, celery_worker_process.log_path.read_text()[-3000:]
    assert rows.count() == 1 and ready.attempts >= 2 and ready.pdf.name.endswith("-v1.pdf")


def test_kill_the_whole_worker_mid_render_then_restart(shop, stack_env, beat_process, tmp_path, capsys):
    worker = start_worker(stack_env, tmp_path / "worker-a.log", name="victim")
    try:
        job, victims = claim_and_kill_mid_render(shop, worker, whole=True)
        worker.wait(timeout=10)
    finally:
        stop_process(worker)
    restarted = start_worker(stack_env, tmp_path / "worker-b.log", name="restarted")
    try:
        ready = wait(lambda: Worksheet.objects.filter(job__public_id=job["id"], status=RenderStatus.READY).first(), timeout=90, every=0.5)
        rows = Worksheet.objects.filter(job__public_id=job["id"])
        report(capsys, f"killed the whole worker {victims} mid-render and started a new one; counted {rows.count()} worksheet row(s), "
                       f"status {[w.status for w in rows]}, attempts {[w.attempts for w in rows]}")
        assert ready is not None, restarted.log_path.read_text()[-3000:]
        assert rows.count() == 1
    finally:
        stop_process(restarted)
        connection.close()


def test_redis_down_while_orders_come_in(shop, celery_worker_process, beat_process, capsys):
    subprocess.run(redis_cli("shutdown", "nosave"), capture_output=True)
    try:
        assert wait(lambda: subprocess.run(redis_cli("ping"), capture_output=True).returncode != 0, timeout=10)
        started = time.monotonic()
        orders = [shop["approved_order"](first=f"Down{i}") for i in range(3)]  # 201 and 200 although the broker is gone
        jobs = [shop["tech"].post("/api/v1/jobs/claim-next/").json() for _ in orders]
        took = time.monotonic() - started
    finally:
        subprocess.run(redis_start(), capture_output=True)
    assert wait(lambda: subprocess.run(redis_cli("ping"), capture_output=True).returncode == 0, timeout=10)
    ids = [job["id"] for job in jobs]
    done = wait(lambda: Worksheet.objects.filter(job__public_id__in=ids, status=RenderStatus.READY).count() == 3, timeout=120, every=0.5)
    counted = Worksheet.objects.filter(job__public_id__in=ids)
    report(capsys, f"stopped Redis, submitted and approved {len(orders)} orders and claimed {len(jobs)} jobs in {took:.1f} s, started "
                   f"Redis; counted {counted.filter(status=RenderStatus.READY).count()} ready worksheets of {counted.count()}")
    assert done, celery_worker_process.log_path.read_text()[-3000:]
    assert counted.count() == 3


def test_the_same_render_delivered_twice_at_once(shop, stack_env, tmp_path, capsys):
    from fulfillment.services import job_claim_next
    from fulfillment.tasks import render_worksheet
    from portal.models import User

    worker = start_worker(stack_env, tmp_path / "worker-2.log", concurrency=2, name="pair")
    try:
        shop["approved_order"]()
        job = job_claim_next(by=User.objects.get(username="techie"))
        worksheet = Worksheet.objects.get(job=job)
        render_worksheet.delay(worksheet.pk)  # a duplicate on top of the one sent after the claim
        render_worksheet.delay(worksheet.pk)
        ready = wait(lambda: Worksheet.objects.filter(pk=worksheet.pk, status=RenderStatus.READY).first(), timeout=60, every=0.2)
        time.sleep(2)  # let the duplicates finish
        ready.refresh_from_db()
        report(capsys, f"delivered one render three times, two at once; counted {Worksheet.objects.filter(job=job).count()} worksheet, "
                       f"{ready.attempts} render(s)")
        assert ready is not None and Worksheet.objects.filter(job=job).count() == 1 and ready.attempts == 1
        assert os.path.exists(ready.pdf.path)
    finally:
        stop_process(worker)
        connection.close()


def test_approve_and_cancel_at_the_same_moment(shop, capsys):
    from fulfillment.workflows import order_approve
    from orders.services import order_cancel
    from portal.models import User

    pharmacist, prescriber = User.objects.get(username="pharm"), User.objects.get(username="rivera")
    outcomes = []
    for round_ in range(8):
        body = {"patient": {"first_name": f"Race{round_}", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
                "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
                "preparations": [{"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply twice daily."}]}
        submitted = shop["doctor"].post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
        approve_mfrs(shop["pharmacist"], submitted)
        order_id = submitted["id"]
        barrier = threading.Barrier(2)
        results = {}

        def act(name, action):
            try:
                order = Order.objects.get(public_id=order_id)
                barrier.wait()
                action(order)
                results[name] = "won"
            except Exception as exc:  # the loser's refusal
                results[name] = type(exc).__name__
            finally:
                connection.close()

        threads = [threading.Thread(target=act, args=("approve", lambda o: order_approve(order=o, by=pharmacist, acknowledged_warnings=[]))),
                   threading.Thread(target=act, args=("cancel", lambda o: order_cancel(order=o, by=prescriber)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        order = Order.objects.get(public_id=order_id)
        jobs = list(Job.objects.filter(preparation__order=order).values_list("status", flat=True))
        outcomes.append((results["approve"], results["cancel"], order.status, jobs))
        assert sorted(results.values()).count("won") >= 1
        if order.status == "approved":
            assert results == {"approve": "won", "cancel": "IllegalTransition"} and jobs == ["queued"]
        else:
            assert order.status == "cancelled" and all(status == "cancelled" for status in jobs)
            assert order.preparations.get().status == "cancelled"
    report(capsys, f"raced approve and cancel {len(outcomes)} times; outcomes {[(o[2], o[3]) for o in outcomes]}")
