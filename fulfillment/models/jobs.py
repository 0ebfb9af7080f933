"""Compounding jobs and their worksheets.

Once an order is approved each preparation is its own job (a refill makes another job from the
same signed prescription). Only fulfillment.transitions changes a job's status."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from orders.models import Preparation
from portal.history import tracked


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    COMPOUNDING = "compounding", "Compounding"
    QC = "qc", "Quality check"
    READY = "ready", "Ready to ship"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    ON_HOLD = "on_hold", "On hold"
    REWORK = "rework", "Rework"
    CANCELLED = "cancelled", "Cancelled"


@tracked()
class Job(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(max_length=30, unique=True)
    preparation = models.ForeignKey(Preparation, on_delete=models.PROTECT, related_name="jobs")
    fill = models.PositiveSmallIntegerField(default=0, help_text="0 for the first fill, then 1, 2, … for refills.")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    priority = models.PositiveSmallIntegerField(default=0, help_text="Higher first.")
    version = models.PositiveIntegerField(default=1)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    shipment = models.ForeignKey("Shipment", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    # Kept by the delivery (fulfillment.tracking) for the metrics' beyond-use figure: one indexed row per
    # delivered job instead of joining its parcel, compounding record and preparation.
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="When the carrier delivered the job's parcel.")
    beyond_use_days_left = models.IntegerField(
        null=True, blank=True,
        help_text="At delivery: beyond-use days (the table's) minus the days from compounding to delivery; negative when past.")
    # While on hold: the pharmacist's reason (the prescriber and the patient read it), and the status to resume to.
    hold_reason = models.TextField(blank=True)
    held_from = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_valid"),
            models.UniqueConstraint(fields=["preparation", "fill"], name="job_one_per_fill"),
            models.CheckConstraint(condition=Q(claimed_by__isnull=True) | Q(claimed_at__isnull=False), name="job_claim_has_time"),
            models.CheckConstraint(condition=~Q(status=JobStatus.ON_HOLD) | (~Q(hold_reason="") & ~Q(held_from="")),
                                   name="job_hold_has_reason"),
        ]
        indexes = [
            # Serves "claim next" (SKIP LOCKED scans this order), each column of the queue board (LIMIT 50 per
            # status) and the board's counts per active status (an index-only scan).
            models.Index(fields=["status", "-priority", "created_at", "id"], name="job_queue_order"),
            # Serves the jobs API without a status (every job, by priority then age): a LIMITed index scan
            # instead of sorting 300,000 jobs for each page.
            models.Index(F("priority").desc(), "created_at", "id", name="job_list_order"),
            # Serves the expired-claims sweep.
            models.Index(fields=["status", "claim_expires_at"], name="job_claim_expiry"),
            # Serves the metrics: the oldest job of each status (queue age).
            models.Index(fields=["status", "created_at"], name="job_status_age"),
            # Serves the claim-to-release figure as an index-only scan (the claim time rides along).
            models.Index(fields=["verified_at"], include=["claimed_at"], name="job_verified_claimed"),
            # Serves the metrics' beyond-use days left at delivery: an index-only scan of the range's deliveries.
            models.Index(fields=["delivered_at"], include=["beyond_use_days_left"], name="job_delivered_bud"),
        ]

    def __str__(self) -> str:
        return self.number


class RenderStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


@tracked()
class Worksheet(models.Model):
    """A rendered compounding worksheet. Re-rendering makes a new version; a version is never overwritten."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="worksheets")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=RenderStatus.choices, default=RenderStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    pdf = models.FileField(upload_to="worksheets/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["job", "version"], name="worksheet_version_unique"),
            models.CheckConstraint(condition=Q(status__in=RenderStatus.values), name="worksheet_status_valid"),
        ]
        indexes = [
            # Serves the sweep that re-enqueues renders whose message was lost.
            models.Index(fields=["status", "created_at"], name="worksheet_pending"),
        ]
