"""One delivery attempt's bookkeeping, shared by emails and webhooks: take a due outbox row for an
attempt, and the wait before the next one. It imports only the models, so the senders and the relay
task can all use it without a circle."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from fulfillment.models import OutboxStatus


def retry_delay(attempts: int, schedule: list[int]) -> dt.timedelta | None:
    """The wait before attempt `attempts + 1`, or None when the schedule is used up (dead letter)."""
    if attempts - 1 < len(schedule):
        return dt.timedelta(seconds=schedule[attempts - 1])
    return None


def claim(model, pk: int) -> bool:
    """Take one due outbox row for this attempt: pending and due → sending, attempts + 1, in one
    conditional UPDATE, so two workers handed the same row cannot both send it. True if this caller holds it."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=OutboxStatus.PENDING, next_attempt_at__lte=now).update(
        status=OutboxStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    return claimed == 1


def due(model, *, now=None, limit: int = 200) -> list[int]:
    """Pending rows whose time has come, and rows stuck 'sending' for 10 minutes (their worker died)."""
    now = now or timezone.now()
    pending = list(model.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
                   .values_list("pk", flat=True)[:limit])
    stuck = model.objects.filter(status=OutboxStatus.SENDING, next_attempt_at__lte=now - dt.timedelta(minutes=10))
    stuck.update(status=OutboxStatus.PENDING)
    return pending


def webhook_schedule() -> list[int]:
    return list(settings.WEBHOOK_RETRY_SCHEDULE)
