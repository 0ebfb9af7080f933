"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py
(and fulfillment.notifications.tasks)."""

import os

from celery import Celery
from celery.signals import task_failure, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Tasks outside an app's own tasks.py: the notifications package keeps its tasks beside it.
app.autodiscover_tasks(["fulfillment.notifications"])

app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "fulfillment.tasks.worker_heartbeat", "schedule": 30.0},
    "resend-worksheets": {"task": "fulfillment.tasks.resend_worksheets", "schedule": float(os.environ.get("RESEND_WORKSHEETS_SECONDS", "30"))},
    "resend-record-pdfs": {"task": "fulfillment.tasks.resend_record_pdfs", "schedule": float(os.environ.get("RESEND_WORKSHEETS_SECONDS", "30"))},
    "relay-outbox": {"task": "fulfillment.notifications.tasks.relay_outbox", "schedule": float(os.environ.get("OUTBOX_RELAY_SECONDS", "10"))},
    "expire-claims": {"task": "fulfillment.tasks.expire_claims", "schedule": 300.0},
    "expire-lots": {"task": "formulary.tasks.expire_lots", "schedule": 3600.0},
    "poll-tracking": {"task": "fulfillment.tasks.poll_tracking", "schedule": float(os.environ.get("TRACKING_POLL_SECONDS", "60"))},
    "request-auto-refills": {"task": "fulfillment.tasks.request_auto_refills",
                             "schedule": float(os.environ.get("AUTO_REFILL_SECONDS", "3600"))},
}


@worker_ready.connect
def _heartbeat_on_start(sender, **kwargs):
    """Check in as soon as a worker is up, so /healthz need not wait for the first beat."""
    sender.app.send_task("fulfillment.tasks.worker_heartbeat")


_history_contexts: dict = {}


@task_prerun.connect
def _history_context_enter(task_id=None, task=None, **kwargs):
    """Change history written by a task names the task as its actor (portal.history)."""
    from portal.history import history_context

    context = history_context(actor=f"task {task.name}")
    context.__enter__()
    _history_contexts[task_id] = context


@task_postrun.connect
def _history_context_exit(task_id=None, **kwargs):
    context = _history_contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)


@task_failure.connect
def _refusal_recorded(exception=None, **kwargs):
    """A task that ends on a refusal is its entry point: write what the refusal asked to keep."""
    from portal.errors import record_refusal

    record_refusal(exception)
