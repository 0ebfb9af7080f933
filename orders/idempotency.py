"""Idempotent POSTs: the first answer for (caller, Idempotency-Key) is kept and replayed.

The key row is inserted first, in its own short transaction: a concurrent request with the
same key finds it and answers 409 while the first runs, or replays the first answer once it
is done. The work stores its answer in the same transaction as what it creates, so an order
and its recorded answer exist together or not at all. A 4xx answer is not kept: nothing was
saved, and the caller may fix the body and retry with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import IdempotencyKey
from portal.errors import Conflict, ServiceError

# A request still "in progress" after this long died with its worker; a retry may take over.
ABANDONED_AFTER = dt.timedelta(seconds=120)


class KeyReused(ServiceError):
    status = 422
    code = "idempotency_key_reused"


class StillRunning(Conflict):
    code = "idempotency_in_progress"


def body_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def idempotent(*, user, key: str, request_hash: str, work):
    """Run `work(record)` once per key. `work` returns (status, body) and must call `record_done`
    inside its transaction. Returns (status, body, replayed)."""
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user=user, key=key, request_hash=request_hash)
    except IntegrityError:
        record = IdempotencyKey.objects.get(user=user, key=key)
        if record.request_hash != request_hash:
            raise KeyReused("This Idempotency-Key was already used with a different body. Use a new key for a new order.") from None
        if record.state == IdempotencyKey.State.DONE:
            return record.response_status, record.response_body, True
        stale = timezone.now() - ABANDONED_AFTER
        taken = IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, created_at__lt=stale).update(
            created_at=timezone.now()
        )
        if taken != 1:
            raise StillRunning("A request with this Idempotency-Key is still in progress. Retry in a moment.") from None
    try:
        status, body = work(record)
    except BaseException:
        IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS).delete()
        raise
    return status, body, False


def record_done(record: IdempotencyKey, *, status: int, body, order=None) -> None:
    updated = IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS).update(
        state=IdempotencyKey.State.DONE, response_status=status, response_body=body, order=order
    )
    if updated != 1:
        raise StillRunning("Another request finished this Idempotency-Key first.")
