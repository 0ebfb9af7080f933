"""What was made: the compounding record (lots and weights used) and the QC results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from fulfillment.models.jobs import Job
from portal.history import tracked


@tracked()
class CompoundingRecord(models.Model):
    # One record per attempt at making the job (USP <795> 7.3): a batch that fails QC goes to rework and is made again,
    # and the failed attempt's record is kept as it was, with its QC failure. `job` points at the job's current attempt
    # only (`job.record`); it is emptied when QC fails, while `attempt_of` and `attempt` keep every attempt numbered.
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="record",
                               help_text="Set on the job's current attempt; empty on an attempt that failed QC.")
    attempt_of = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="records")
    attempt = models.PositiveSmallIntegerField(default=1, help_text="1 for the first batch made, 2 after one rework, …")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    theoretical_grams = models.DecimalField(max_digits=10, decimal_places=3)
    actual_yield_grams = models.DecimalField(max_digits=10, decimal_places=3)
    yield_percent = models.DecimalField(max_digits=6, decimal_places=2)
    yield_flagged = models.BooleanField(default=False)
    # USP <795> 7.3: the master formulation record followed (its id and version kept as they were), the calculations
    # as done, deviations with their reasons, the pharmacist's completeness review; at release the whole record is
    # frozen (`frozen`, the data; `pdf`, its rendering, whose SHA-256 is kept) and never changes afterwards.
    mfr = models.ForeignKey("formulary.MasterFormulationRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    mfr_code = models.CharField(max_length=20, blank=True)
    mfr_version = models.PositiveSmallIntegerField(null=True, blank=True)
    calculations = models.JSONField(default=dict, blank=True)
    deviations = models.JSONField(default=list, blank=True, help_text="[{what, reason, by, at}]")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    frozen = models.JSONField(null=True, blank=True, help_text="The record as released; never changed.")
    frozen_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to="records/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(actual_yield_grams__gt=0), name="record_yield_positive"),
            models.CheckConstraint(condition=Q(frozen__isnull=True) | Q(reviewed_by__isnull=False, reviewed_at__isnull=False, frozen_at__isnull=False),
                                   name="record_frozen_after_review"),
            models.CheckConstraint(condition=Q(pdf_sha256="") | Q(frozen__isnull=False), name="record_pdf_only_when_frozen"),
            models.UniqueConstraint(fields=["attempt_of", "attempt"], name="record_one_per_attempt"),
            models.CheckConstraint(condition=Q(job__isnull=True) | Q(job=models.F("attempt_of")), name="record_current_of_its_job"),
        ]
        indexes = [
            # Serves the sweep that renders frozen records whose PDF message was lost.
            models.Index(fields=["pdf_sha256", "frozen_at"], name="record_pdf_pending"),
        ]


class RecordStep(models.TextChoices):
    """What a record line weighed. A material too light to weigh directly (WM-04) is weighed as an
    aliquot: the material, the mixture made up with base, and the portion of it taken into the batch."""

    WEIGH = "weigh", "Weighed into the batch"
    ALIQUOT_MATERIAL = "aliquot_material", "Aliquot: the material"
    ALIQUOT_BASE = "aliquot_base", "Aliquot: made up with base"
    ALIQUOT_PORTION = "aliquot_portion", "Aliquot: portion into the batch"


@tracked()
class RecordLine(models.Model):
    record = models.ForeignKey(CompoundingRecord, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order of addition, as on the worksheet.")
    step = models.CharField(max_length=20, choices=RecordStep.choices, default=RecordStep.WEIGH)
    item_code = models.CharField(max_length=60, help_text="The material or base whose lot this line used.")
    item_name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=300, blank=True, help_text="The weighing in words, as the worksheet said it.")
    lot = models.ForeignKey("formulary.StockLot", on_delete=models.PROTECT, related_name="+")
    lot_number = models.CharField(max_length=60)
    lot_expires_on = models.DateField()
    planned_grams = models.DecimalField(max_digits=10, decimal_places=3)
    actual_grams = models.DecimalField(max_digits=10, decimal_places=3)
    supplier = models.CharField(max_length=120, blank=True, help_text="The lot's vendor, as received.")
    manufacturer = models.CharField(max_length=120, blank=True)
    weighed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    weighed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(actual_grams__gt=0), name="record_line_positive"),
            models.CheckConstraint(condition=Q(step__in=RecordStep.values), name="record_line_step_valid"),
        ]


@tracked()
class QCResult(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="qc_results")
    record = models.ForeignKey(CompoundingRecord, null=True, blank=True, on_delete=models.CASCADE, related_name="qc_results",
                               help_text="The attempt this check was made on.")
    measured_ph = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    appearance_ok = models.BooleanField()
    fill_weight = models.DecimalField(max_digits=10, decimal_places=3)
    passed = models.BooleanField()
    description = models.TextField(blank=True, help_text="The physical description observed.")
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
