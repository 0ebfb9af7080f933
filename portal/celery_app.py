"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "fulfillment.tasks.worker_heartbeat", "schedule": 30.0},
    "resend-worksheets": {"task": "fulfillment.tasks.resend_worksheets", "schedule": float(os.environ.get("RESEND_WORKSHEETS_SECONDS", "30"))},
    "relay-outbox": {"task": "fulfillment.tasks.relay_outbox", "schedule": float(os.environ.get("OUTBOX_RELAY_SECONDS", "10"))},
    "expire-claims": {"task": "fulfillment.tasks.expire_claims", "schedule": 300.0},
    "poll-tracking": {"task": "fulfillment.tasks.poll_tracking", "schedule": float(os.environ.get("TRACKING_POLL_SECONDS", "60"))},
}


@worker_ready.connect
def _heartbeat_on_start(sender, **kwargs):
    """Check in as soon as a worker is up, so /healthz need not wait for the first beat."""
    sender.app.send_task("fulfillment.tasks.worker_heartbeat")
