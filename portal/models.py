"""Accounts and roles, API tokens, and the pharmacy with its licences."""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q

import pghistory
import pgtrigger

from portal.history import tracked
from portal.states import USState


class Role(models.TextChoices):
    PRESCRIBER = "prescriber", "Prescriber"
    PHARMACIST = "pharmacist", "Pharmacist"
    TECHNICIAN = "technician", "Pharmacy technician"
    PHARMACY_ADMIN = "pharmacy_admin", "Pharmacy admin"
    PLATFORM = "platform", "Telehealth platform (API only)"


PHARMACY_ROLES = frozenset({Role.PHARMACIST, Role.TECHNICIAN, Role.PHARMACY_ADMIN})


# A password change is recorded (as "password_changed"), its hash never copied; sign-ins (last_login) are not changes.
@tracked("password", "last_login", also=[pghistory.UpdateEvent("password_changed", condition=pghistory.AnyChange("password"))])
class User(AbstractUser):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
        ]

    @property
    def is_pharmacy_staff(self) -> bool:
        return self.role in PHARMACY_ROLES

    @property
    def is_prescriber(self) -> bool:
        return self.role == Role.PRESCRIBER


@tracked("key_hash", "last_used_at")
class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="API token")
    prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"


class LicenceQuerySet(models.QuerySet):
    def active_on(self, day: dt.date):
        """Licences in force on `day`: an expired licence is inactive from the day after expiry."""
        return self.filter(expires_on__gte=day)


class StateLicence(models.Model):
    state = models.CharField(max_length=2, choices=USState.choices)
    number = models.CharField(max_length=40)
    expires_on = models.DateField()

    objects = LicenceQuerySet.as_manager()

    class Meta:
        abstract = True

    def is_active_on(self, day: dt.date) -> bool:
        return self.expires_on >= day


class Pharmacy(models.Model):
    """The dispensing pharmacy. One row today; a second site would be a second row."""

    name = models.CharField(max_length=200)
    resident_state = models.CharField(max_length=2, choices=USState.choices)
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    ncpdp_id = models.CharField(max_length=7, blank=True)

    class Meta:
        verbose_name_plural = "pharmacies"

    def __str__(self) -> str:
        return self.name


@tracked()
class PharmacyLicence(StateLicence):
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="licences")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pharmacy", "state"], name="pharmacy_licence_one_per_state"),
        ]

    def __str__(self) -> str:
        return f"{self.pharmacy} {self.state} {self.number}"


class BenchmarkPing(models.Model):
    """One row per call of the benchmark's bare endpoint (bench/throughput.sh); routed only with BENCH_ENDPOINTS=1."""

    created_at = models.DateTimeField(auto_now_add=True)


class AccessAction(models.TextChoices):
    VIEW = "view", "Viewed"
    DOWNLOAD = "download", "Downloaded"
    EXPORT = "export", "Exported"


class AccessEvent(models.Model):
    """One read of patient data (a detail page, an API detail, a PDF, the patient's own link), or an
    export of the audit itself. Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE.

    Who and which patient are kept as plain values (no foreign keys), so no later delete can take
    an access event with it or be refused because of one."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="portal.User id; empty for a patient link.")
    actor_name = models.CharField(max_length=150, help_text="Username, or 'patient link'.")
    channel = models.CharField(max_length=10, help_text="page, api or link")
    action = models.CharField(max_length=10, choices=AccessAction.choices)
    object_type = models.CharField(max_length=30)
    object_id = models.CharField(max_length=64)
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="orders.Patient id, if any.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300, help_text="With any patient-link token cut out.")
    ip = models.CharField(max_length=45)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type} {self.object_id}"
