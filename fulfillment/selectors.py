from __future__ import annotations

from fulfillment.models import WorkerHeartbeat


def worker_last_seen():
    """The newest heartbeat of any worker, or None when no worker has run yet."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()
