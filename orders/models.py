"""Clinics and their prescribers (NPI, state licences). Patients and orders join them later."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from portal.models import StateLicence
from portal.states import USState
from portal.npi import validate_npi


class Clinic(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class Prescriber(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriber")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="prescribers")
    npi = models.CharField("NPI", max_length=10, unique=True, validators=[validate_npi])
    credentials = models.CharField(max_length=20, blank=True, help_text="MD, DO, NP, PA …")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(npi__regex=r"^[12][0-9]{9}$"), name="prescriber_npi_format"),
        ]

    def __str__(self) -> str:
        name = self.user.get_full_name() or self.user.username
        return f"{name}, {self.credentials}" if self.credentials else name

    def licensed_states_on(self, day: dt.date) -> list[str]:
        return sorted(lic.state for lic in self.licences.all() if lic.is_active_on(day))


class PrescriberLicence(StateLicence):
    prescriber = models.ForeignKey(Prescriber, on_delete=models.CASCADE, related_name="licences")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prescriber", "state", "number"], name="prescriber_licence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.prescriber} {self.state} {self.number} (expires {self.expires_on})"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Not stated"


class Patient(models.Model):
    """A patient of one clinic, shared by its prescribers and invisible to every other clinic."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    external_id = models.CharField(max_length=100, blank=True, help_text="The clinic's own id for this patient.")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, choices=USState.choices)
    postal_code = models.CharField(max_length=10)
    allergies = models.ManyToManyField("formulary.AllergenGroup", blank=True, related_name="+")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "external_id"],
                condition=~Q(external_id=""),
                name="patient_external_id_unique_per_clinic",
            ),
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="patient_sex_valid"),
        ]
        indexes = [
            # Serves the clinic's patient search by name.
            models.Index(fields=["clinic", "last_name", "first_name"], name="patient_clinic_name"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"
