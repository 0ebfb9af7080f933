"""Fulfilment reads for pharmacy staff."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from fulfillment.models import Job, JobStatus, WorkerHeartbeat, Worksheet
from orders.models import Order, OrderStatus


def worker_last_seen():
    """The newest heartbeat of any worker, or None when no worker has run yet."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


def job_list(*, status: str = "") -> QuerySet:
    qs = (Job.objects.select_related("preparation__order__patient", "claimed_by")
          .prefetch_related(Prefetch("worksheets", queryset=Worksheet.objects.order_by("-version")))
          .order_by("-priority", "created_at", "pk"))
    if status:
        qs = qs.filter(status=status)
    return qs


def latest_worksheet(job: Job) -> Worksheet | None:
    cached = getattr(job, "_prefetched_objects_cache", {}).get("worksheets")
    if cached is not None:
        return cached[0] if cached else None
    return job.worksheets.order_by("-version").first()


def job_counts() -> dict[str, int]:
    counts = dict(Job.objects.values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in JobStatus.values}


def verification_queue() -> QuerySet:
    return (Order.objects.filter(status__in=[OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION])
            .select_related("patient", "prescriber__user", "clinic").prefetch_related("preparations").order_by("signed_at", "pk"))
