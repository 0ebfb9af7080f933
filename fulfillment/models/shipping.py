"""Shipments and the carrier's tracking events."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from portal.history import tracked


class ShipmentStatus(models.TextChoices):
    LABEL_CREATED = "label_created", "Label created"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"


# Shipments only move forward: a late or repeated carrier event never moves one back.
SHIPMENT_RANK = {ShipmentStatus.LABEL_CREATED: 0, ShipmentStatus.IN_TRANSIT: 1, ShipmentStatus.OUT_FOR_DELIVERY: 2,
                 ShipmentStatus.DELIVERED: 3}


# The patient never changes after a parcel is made; the history keeps every other field (and pgh_obj_id leads to it).
@tracked("patient")
class Shipment(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # One parcel for one patient at one address: it may carry ready jobs of several of that patient's orders (a refill
    # and a new cream ship together). Each order follows it (order.shipments) for tracking, webhooks and emails.
    patient = models.ForeignKey("orders.Patient", on_delete=models.PROTECT, related_name="+")
    orders = models.ManyToManyField("orders.Order", related_name="shipments")
    carrier = models.CharField(max_length=40)
    service = models.CharField(max_length=60)
    tracking_number = models.CharField(max_length=40)
    cold_pack = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.LABEL_CREATED)
    shipped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    shipped_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    estimated_delivery_date = models.DateField(null=True, blank=True, help_text="The carrier's estimate when the parcel was handed over.")
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
            # Serve the metrics by day: parcels shipped, and parcels delivered, in a date range.
            models.Index(fields=["shipped_at"], name="shipment_shipped_at"),
            models.Index(fields=["delivered_at"], name="shipment_delivered_at"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"

    @property
    def order_list(self) -> list:
        """The orders in this parcel, oldest first (prefetch `orders` to read it without a query per shipment)."""
        return sorted(self.orders.all(), key=lambda order: order.pk)

    @property
    def carrier_name(self) -> str:
        from fulfillment.carriers import CARRIERS  # carriers imports no model at run time

        carrier = CARRIERS.get(self.carrier)
        return carrier.name if carrier else self.carrier

    @property
    def tracking_url(self) -> str:
        """Where the prescriber and the patient follow the parcel (read by the order page through order.shipments)."""
        from fulfillment.carriers import CARRIERS  # carriers imports no model at run time

        carrier = CARRIERS.get(self.carrier)
        return carrier.tracking_url(self.tracking_number) if carrier else ""


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
