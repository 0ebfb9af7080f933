"""Fulfilment's models, one module per subject: jobs and worksheets, compounding records and QC,
shipping and tracking, the notifications outbox, worker heartbeats. Tables keep the names they had
when this was one file (Django names a table after the app and the model, not the module)."""

from fulfillment.models.jobs import Job, JobStatus, RenderStatus, Worksheet
from fulfillment.models.metrics import MetricsDay
from fulfillment.models.notifications import (
    EmailOutbox,
    OutboxStatus,
    PayloadFormat,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from fulfillment.models.records import CompoundingRecord, QCResult, RecordLine, RecordStep
from fulfillment.models.shipping import SHIPMENT_RANK, Shipment, ShipmentStatus, TrackingEvent
from fulfillment.models.workers import WorkerHeartbeat

__all__ = [
    "SHIPMENT_RANK", "CompoundingRecord", "EmailOutbox", "Job", "JobStatus", "MetricsDay", "OutboxStatus", "PayloadFormat", "QCResult", "RecordLine",
    "RecordStep", "RenderStatus",
    "Shipment", "ShipmentStatus", "TrackingEvent", "WebhookDelivery", "WebhookEndpoint", "WebhookEvent", "WorkerHeartbeat", "Worksheet",
]
