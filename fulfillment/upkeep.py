"""The beat's sweeps and the workers' heartbeats: called by fulfillment.tasks, nothing else."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fulfillment.models import Job, JobStatus, WorkerHeartbeat
from fulfillment.transitions import job_transition
from portal.errors import ServiceError, record_refusal


def claims_expire(*, now=None) -> int:
    """Return jobs whose claim lapsed with no record entered to the queue (a beat task)."""
    now = now or timezone.now()
    count = 0
    for job in Job.objects.filter(status=JobStatus.COMPOUNDING, claim_expires_at__lt=now, record__isnull=True).select_related("preparation__order"):
        try:
            job_transition(job=job, to=JobStatus.QUEUED, by=None, claimed_by=None, claimed_at=None, claim_expires_at=None,
                           message="claim expired")
            count += 1
        except ServiceError as exc:
            record_refusal(exc)  # this sweep is the refusal's entry point: it skips the job and goes on
            continue
    return count


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Record that `hostname` is alive. Idempotent per worker: one row each, a counter that grows."""
    now = timezone.now()
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
            hostname=hostname, defaults={"seen_at": now, "beats": 1}
        )
        if not created:
            WorkerHeartbeat.objects.filter(pk=beat.pk).update(seen_at=now, beats=F("beats") + 1)
            beat.refresh_from_db()
    return beat
