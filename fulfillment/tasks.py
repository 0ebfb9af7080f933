"""Celery tasks: thin entry points that take ids, load, re-check and call a service."""

from celery import shared_task

from fulfillment import services


@shared_task(name="fulfillment.tasks.worker_heartbeat", bind=True, ignore_result=True)
def worker_heartbeat(self) -> None:
    services.worker_heartbeat_record(hostname=self.request.hostname or "unknown")
