"""What was made: the compounding record (lots and weights used) and the QC results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from fulfillment.models.jobs import Job
from portal.history import tracked


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
        indexes = [
            # Serves the metrics' first-pass yield: checks recorded in a date range.
            models.Index(fields=["recorded_at"], name="qc_recorded_at"),
        ]
