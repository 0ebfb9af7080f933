"""Fulfilment services: every write of the fulfilment app goes through here."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fulfillment.models import WorkerHeartbeat


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
