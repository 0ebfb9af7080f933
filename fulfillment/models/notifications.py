"""Outbound messages: emails and webhooks, written in the same transaction as the change that
causes them (an outbox), delivered by Celery, retried with backoff, dead-lettered at the end."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DEAD = "dead", "Dead-lettered"


class EmailOutbox(models.Model):
    """One email to send: ids, a template name, and what the change that queued it knew beyond the order
    (its payload: the question, the shipment). It is rendered when sent."""

    template = models.CharField(max_length=60)
    to = models.EmailField()
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey("fulfillment.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(status__in=OutboxStatus.values), name="email_outbox_status_valid")]
        indexes = [
            # Serves the relay: due pending messages, oldest first.
            models.Index(fields=["status", "next_attempt_at"], name="email_outbox_due"),
        ]


class PayloadFormat(models.TextChoices):
    JSON = "json", "Portal JSON"
    FHIR = "fhir", "FHIR R4 (Task and MedicationDispense)"


class WebhookEndpoint(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey("orders.Clinic", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="whsec_… (Standard Webhooks); shown once when created.")
    event_types = models.JSONField(default=list)
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices, default=PayloadFormat.JSON,
                                      help_text="What each delivery carries: the portal's JSON, or the changed FHIR resources.")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(payload_format__in=PayloadFormat.values), name="webhook_endpoint_payload_format_valid"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """An event for a clinic's platforms: ids, external id, status, per-order sequence (from the order's
    counter, Order.webhook_sequence). Never patient data."""

    public_id = models.CharField(max_length=40, unique=True)
    clinic = models.ForeignKey("orders.Clinic", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=60)
    sequence = models.PositiveIntegerField()
    payload = models.JSONField()
    fhir_payload = models.JSONField(null=True, blank=True, help_text="The changed FHIR resources, for endpoints that ask for "
                                                                      "them (built only when one does).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "sequence"], name="webhook_event_sequence_unique")]
        indexes = [
            # Serves GET /api/v1/events/?after=: a clinic's events by id.
            models.Index(fields=["clinic", "id"], name="webhook_event_clinic_cursor"),
        ]


class WebhookDelivery(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
            models.CheckConstraint(condition=Q(status__in=OutboxStatus.values), name="webhook_delivery_status_valid"),
        ]
        indexes = [
            # Serves the relay: due pending deliveries.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]
