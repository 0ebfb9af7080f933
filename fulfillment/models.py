"""Fulfilment: compounding jobs, worksheets, compounding records, QC, shipments and tracking.

Once an order is approved each preparation is its own job (a refill makes another job from the
same signed prescription). Only fulfillment.transitions changes a job's status."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from orders.models import Preparation
from portal.history import tracked


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task; /healthz reports the newest."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_valid"),
            models.UniqueConstraint(fields=["preparation", "fill"], name="job_one_per_fill"),
            models.CheckConstraint(condition=Q(claimed_by__isnull=True) | Q(claimed_at__isnull=False), name="job_claim_has_time"),
        ]
        indexes = [
            # Serves "claim next" (SKIP LOCKED scans this order), each column of the queue board (LIMIT 50 per
            # status) and the board's counts per active status (an index-only scan).
            models.Index(fields=["status", "-priority", "created_at", "id"], name="job_queue_order"),
            # Serves the expired-claims sweep.
            models.Index(fields=["status", "claim_expires_at"], name="job_claim_expiry"),
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


@tracked()
class CompoundingRecord(models.Model):
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="record")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    theoretical_grams = models.DecimalField(max_digits=10, decimal_places=3)
    actual_yield_grams = models.DecimalField(max_digits=10, decimal_places=3)
    yield_percent = models.DecimalField(max_digits=6, decimal_places=2)
    yield_flagged = models.BooleanField(default=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(actual_yield_grams__gt=0), name="record_yield_positive")]


@tracked()
class RecordLine(models.Model):
    record = models.ForeignKey(CompoundingRecord, on_delete=models.CASCADE, related_name="lines")
    item_code = models.CharField(max_length=60)
    lot = models.ForeignKey("formulary.StockLot", on_delete=models.PROTECT, related_name="+")
    lot_number = models.CharField(max_length=60)
    lot_expires_on = models.DateField()
    planned_grams = models.DecimalField(max_digits=10, decimal_places=3)
    actual_grams = models.DecimalField(max_digits=10, decimal_places=3)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(actual_grams__gt=0), name="record_line_positive")]


@tracked()
class QCResult(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="qc_results")
    measured_ph = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    appearance_ok = models.BooleanField()
    fill_weight = models.DecimalField(max_digits=10, decimal_places=3)
    passed = models.BooleanField()
    problems = models.JSONField(default=list)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.CheckConstraint(condition=Q(measured_ph__isnull=True) | Q(measured_ph__gte=0, measured_ph__lte=14), name="qc_ph_range"),
            models.CheckConstraint(condition=Q(fill_weight__gt=0), name="qc_fill_weight_positive"),
        ]


class ShipmentStatus(models.TextChoices):
    LABEL_CREATED = "label_created", "Label created"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"


# Shipments only move forward: a late or repeated carrier event never moves one back.
SHIPMENT_RANK = {ShipmentStatus.LABEL_CREATED: 0, ShipmentStatus.IN_TRANSIT: 1, ShipmentStatus.OUT_FOR_DELIVERY: 2,
                 ShipmentStatus.DELIVERED: 3}


@tracked()
class Shipment(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    carrier = models.CharField(max_length=40)
    service = models.CharField(max_length=60)
    tracking_number = models.CharField(max_length=40)
    cold_pack = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.LABEL_CREATED)
    shipped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    shipped_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_number"], name="shipment_tracking_unique"),
            models.CheckConstraint(condition=Q(status__in=ShipmentStatus.values), name="shipment_status_valid"),
            models.CheckConstraint(condition=Q(delivered_at__isnull=True) | Q(delivered_at__gte=F("shipped_at")),
                                   name="shipment_delivered_after_shipped"),
        ]
        indexes = [
            # Serves the tracking poll: open shipments, least recently polled first.
            models.Index(fields=["status", "last_polled_at"], name="shipment_poll_order"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    carrier_event_id = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    description = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "carrier_event_id"], name="tracking_event_once"),
        ]


from fulfillment.models_notify import EmailOutbox, OutboxStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402,F401
