"""Master formulation records (USP <795> 7.2): one per unique formulation, versioned, approved by a pharmacist
before use, never edited once approved (a change is a new version). formulary.mfrs holds their writes; only
`mfr_transition` changes a status.

A formulation is what makes two preparations the same recipe: the base, each material with its strength, the route,
the target pH and the quantity unit. The quantity itself is not part of it: the record states the formula per 100
and the worksheet scales it to the batch."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from formulary.routes import route_name
from portal.history import tracked


class MfrStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    RETIRED = "retired", "Retired"


@tracked()
class MasterFormulationRecord(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(max_length=20, help_text="The formulation's number, shared by all its versions (MFR-…).")
    formulation_key = models.CharField(max_length=64, help_text="SHA-256 of the formulation's identity.")
    identity = models.JSONField(help_text="{base, route, target_ph, unit, materials: [[code, percent], …]}: what is matched.")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=MfrStatus.choices, default=MfrStatus.DRAFT)
    # <795> 7.2: name, strength, dosage form.
    name = models.CharField(max_length=400)
    strength = models.TextField(blank=True)
    dosage_form = models.CharField(max_length=100, blank=True)
    route = models.CharField(max_length=40, blank=True)
    target_ph = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    quantity_unit = models.CharField(max_length=4)
    ingredient_codes = models.CharField(max_length=2000, blank=True, help_text="' code code ': the base and materials, for search.")
    # Identity and amount of every component, with its relevant characteristics.
    components = models.JSONField(default=list)
    container_closure = models.TextField(blank=True)
    equipment = models.TextField(blank=True)
    steps = models.JSONField(default=list, help_text="The compounding steps, in order.")
    calculations = models.JSONField(default=dict, help_text="Overage, minimum weighable quantity, aliquots, formula per 100.")
    physical_description = models.TextField(blank=True)
    beyond_use_days = models.PositiveIntegerField(null=True, blank=True)
    storage = models.CharField(max_length=30, blank=True)
    storage_text = models.CharField(max_length=200, blank=True)
    bud_source = models.TextField(blank=True, help_text="The rule in docs/rules.md or a cited stability reference.")
    labelling = models.TextField(blank=True)
    qc = models.JSONField(default=list, help_text="[{test, method, expected}]")
    rules_version = models.CharField(max_length=80, blank=True)
    notes = models.TextField(blank=True)
    # A formulary edit to one of its materials or its base: the pharmacist reviews it (and makes a new version if needed).
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    proposed_from = models.CharField(max_length=40, blank=True, help_text="The order whose verification proposed it.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=MfrStatus.values), name="mfr_status_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="mfr_version_from_1"),
            models.UniqueConstraint(fields=["formulation_key", "version"], name="mfr_version_unique"),
            # One approved version of a formulation at a time, and one draft in the making.
            models.UniqueConstraint(fields=["formulation_key"], condition=Q(status="approved"), name="mfr_one_approved"),
            models.UniqueConstraint(fields=["formulation_key"], condition=Q(status="draft"), name="mfr_one_draft"),
            models.CheckConstraint(condition=Q(status="draft") | Q(approved_by__isnull=False, approved_at__isnull=False)
                                   | Q(status="retired"), name="mfr_approved_has_who_and_when"),
        ]
        indexes = [
            # Serves the match at submission: the approved (or draft) version of a formulation.
            models.Index(fields=["formulation_key", "status"], name="mfr_key_status"),
            # Serves the library's filters by status and review flag.
            models.Index(fields=["status", "needs_review"], name="mfr_status_review"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def label(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def route_name(self) -> str:
        """The route as people say it ("Topical (skin)"); `route` keeps the code the formulation is matched on."""
        return route_name(self.route)
