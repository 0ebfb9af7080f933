"""A task goes through the real broker to a real worker process and its effect lands in the database."""

import time

import pytest

from fulfillment.models import WorkerHeartbeat
from fulfillment.tasks import worker_heartbeat

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def test_task_round_trips_through_redis_to_a_worker_process(celery_worker_process, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    # The worker checks in once on start-up (worker_ready); wait for that first row.
    first = wait_for(lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-").first())
    assert first is not None, celery_worker_process.log_path.read_text()[-3000:]

    worker_heartbeat.delay()  # published to Redis by this process, run by the worker process

    later = wait_for(lambda: WorkerHeartbeat.objects.filter(pk=first.pk, beats__gte=first.beats + 1).first())
    assert later is not None, celery_worker_process.log_path.read_text()[-3000:]
    assert later.seen_at >= first.seen_at
    assert "fulfillment.tasks.worker_heartbeat" in celery_worker_process.log_path.read_text()


def test_healthz_sees_the_worker(celery_worker_process, client):
    assert wait_for(lambda: WorkerHeartbeat.objects.exists())
    body = client.get("/healthz").json()
    assert body["broker"]["status"] == "ok"
    assert body["worker"]["status"] == "ok"
