"""Webhook endpoints and deliveries, Standard Webhooks style.

Headers: webhook-id, webhook-timestamp, webhook-signature ("v1," + base64 HMAC-SHA256 over
"id.timestamp.body" with the base64-decoded part of the whsec_ secret), plus webhook-attempt.
URLs must be https and resolve only to public internet addresses (portal/outbound.py; loopback and
http are allowed outside production, for development receivers). Each delivery resolves the name
once, checks it, and connects to the address it checked.

One clinic cannot stall the others (F3 of the December probe): a clinic has at most
WEBHOOK_ENDPOINTS_PER_CLINIC endpoints; deliveries run on their own queue and worker pool
(`webhooks`), with short connect and read timeouts; an endpoint receives one delivery at a time and a
clinic at most WEBHOOK_CLINIC_CONCURRENCY at once (a delivery that finds its endpoint or clinic busy
steps aside at once and is re-sent by the relay, spending no attempt and holding no worker); and a
circuit breaker pauses an endpoint after WEBHOOK_BREAKER_FAILURES failures in a row, for a time that
doubles with each further failure, without delaying anyone else's deliveries."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from fulfillment.fhir.events import fill as fill_fhir_payload
from fulfillment.models import OutboxStatus, PayloadFormat, WebhookDelivery, WebhookEndpoint
from fulfillment.notifications.delivery import claim, retry_delay, webhook_schedule
from portal import outbound
from portal.errors import ServiceError


EVENT_TYPES = ("order.status_changed", "preparation.status_changed", "shipment.tracking_updated", "job.on_hold", "job.resumed",
               "refill.requested", "refill.released", "prescription.depleted", "renewal.requested", "renewal.approved", "renewal.denied")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def url_problem(url: str) -> str | None:
    """Why a webhook URL is refused, or None (the portal's outbound policy, portal/outbound.py)."""
    return outbound.url_problem(url or "", allow_insecure=settings.WEBHOOK_ALLOW_INSECURE)


def endpoint_create(*, clinic, by, url: str, event_types: list[str], description: str = "",
                    payload_format: str = PayloadFormat.JSON) -> WebhookEndpoint:
    from orders.models import Clinic

    url = (url or "").strip()
    errors = {}
    problem = url_problem(url) if len(url) <= 500 else "At most 500 characters."
    if problem:
        errors["url"] = [problem]
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown or not event_types:
        errors["event_types"] = [f"Choose from {', '.join(EVENT_TYPES)}."]
    if payload_format not in PayloadFormat.values:
        errors["payload_format"] = [f"Choose {' or '.join(PayloadFormat.values)}."]
    if errors:
        raise ServiceError("The webhook endpoint cannot be saved: see fields.", fields=errors)
    limit = settings.WEBHOOK_ENDPOINTS_PER_CLINIC
    with transaction.atomic():
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()  # two at once cannot both take the last place
        if WebhookEndpoint.objects.filter(clinic=clinic).count() >= limit:
            raise ServiceError(f"A clinic may have at most {limit} webhook endpoints. Remove one you no longer use, then add this one.",
                               code="too_many_endpoints", status=409, fields={"url": [f"At most {limit} endpoints per clinic."]})
        return WebhookEndpoint.objects.create(clinic=clinic, url=url, secret=new_secret(), event_types=list(dict.fromkeys(event_types)),
                                              description=(description or "")[:200], created_by=by, payload_format=payload_format)


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint (found through the caller's selector); its deliveries go with it."""
    endpoint.delete()


# --- Isolation: one delivery per endpoint, a few per clinic, and a circuit breaker ---------------
# Kept in the shared cache (Redis in production, the database cache on the embedded default) with
# atomic operations: `add` takes a slot only if it is free; each slot expires by itself after the
# longest a delivery can take, so a worker that died never holds one for long.

BUSY_RETRY_SECONDS = 2


def _slot_seconds() -> int:
    return int(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS) + 10


def _take_slots(endpoint) -> list[str] | None:
    """The endpoint's one slot and one of its clinic's slots, or None (and nothing held) if either is busy."""
    mine = f"webhook:endpoint:{endpoint.pk}:busy"
    if not cache.add(mine, 1, timeout=_slot_seconds()):
        return None
    for slot in range(settings.WEBHOOK_CLINIC_CONCURRENCY):
        clinic_slot = f"webhook:clinic:{endpoint.clinic_id}:slot:{slot}"
        if cache.add(clinic_slot, 1, timeout=_slot_seconds()):
            return [mine, clinic_slot]
    cache.delete(mine)
    return None


def _breaker_key(endpoint) -> str:
    return f"webhook:endpoint:{endpoint.pk}:paused-until"


def _paused_until(endpoint) -> float | None:
    until = cache.get(_breaker_key(endpoint))
    return until if until and until > time.time() else None


def _breaker_failure(endpoint) -> None:
    from portal import ratelimit

    failures = ratelimit.hit("webhook-failures", str(endpoint.pk), window=3 * 24 * 3600)
    if failures >= settings.WEBHOOK_BREAKER_FAILURES:
        pause = min(settings.WEBHOOK_BREAKER_SECONDS * 2 ** (failures - settings.WEBHOOK_BREAKER_FAILURES), 3600)
        cache.set(_breaker_key(endpoint), time.time() + pause, timeout=int(pause) + 60)


def _breaker_success(endpoint) -> None:
    from portal import ratelimit

    ratelimit.reset("webhook-failures", str(endpoint.pk))
    cache.delete(_breaker_key(endpoint))


def _step_aside(delivery_id: int, *, until: float, note: str = "") -> None:
    """Not now: leave the delivery pending for the relay to send at `until`, with no attempt spent."""
    fields = {"next_attempt_at": dt.datetime.fromtimestamp(until, tz=dt.UTC)}
    if note:
        fields["last_error"] = note[:300]
    WebhookDelivery.objects.filter(pk=delivery_id, status=OutboxStatus.PENDING).update(**fields)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt, if the endpoint is neither paused nor busy. No database transaction is open while
    the HTTP request runs."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    paused = _paused_until(endpoint) if endpoint.active else None
    if paused:
        _step_aside(delivery_id, until=paused, note=f"paused: the endpoint failed {settings.WEBHOOK_BREAKER_FAILURES} or more times "
                                                    f"in a row; the next try is at {dt.datetime.fromtimestamp(paused, tz=dt.UTC):%H:%M:%S} UTC")
        return delivery
    slots = _take_slots(endpoint)
    if slots is None:
        _step_aside(delivery_id, until=time.time() + BUSY_RETRY_SECONDS)
        return delivery
    try:
        return _attempt(delivery_id)
    finally:
        cache.delete_many(slots)


def _attempt(delivery_id: int) -> WebhookDelivery | None:
    held = claim(WebhookDelivery, delivery_id)
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None or not held:
        return delivery
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, status=OutboxStatus.DEAD, error=f"endpoint disabled: {endpoint.disabled_reason}")
    fhir = endpoint.payload_format == PayloadFormat.FHIR
    if fhir and delivery.event.fhir_payload is None:
        fill_fhir_payload(delivery.event_id)  # its after-commit build was lost
        delivery.event.refresh_from_db(fields=["fhir_payload"])
    fhir = fhir and delivery.event.fhir_payload is not None
    body = json.dumps(delivery.event.fhir_payload if fhir else delivery.event.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/fhir+json" if fhir else "application/json",
        "user-agent": "compounding-portal-webhooks/1",
        "webhook-id": delivery.event.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint.secret, delivery.event.public_id, timestamp, body),
        "webhook-attempt": str(delivery.attempts),
    }
    try:
        code = outbound.post(endpoint.url, body=body, headers=headers, allow_insecure=settings.WEBHOOK_ALLOW_INSECURE,
                             connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
                             read_timeout=settings.WEBHOOK_TIMEOUT_SECONDS).status
    except outbound.Refused as exc:
        return _retry_or_dead(delivery, code=None, error=str(exc))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        _breaker_failure(endpoint)
        return _retry_or_dead(delivery, code=None, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    if 200 <= code < 300:
        _breaker_success(endpoint)
        return _finish(delivery, status=OutboxStatus.SENT, code=code, delivered=True)
    if code == 410:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_reason="The receiver answered 410 Gone.")
        return _finish(delivery, status=OutboxStatus.DEAD, code=code, error="410 Gone: endpoint disabled")
    _breaker_failure(endpoint)
    return _retry_or_dead(delivery, code=code, error=f"HTTP {code}")


def _finish(delivery, *, status, code=None, error="", delivered=False):
    fields = {"status": status, "last_status_code": code, "last_error": error[:300]}
    if delivered:
        fields["delivered_at"] = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk, status=OutboxStatus.SENDING).update(**fields)
    delivery.refresh_from_db()
    return delivery


def _retry_or_dead(delivery, *, code, error):
    wait = retry_delay(delivery.attempts, webhook_schedule())
    if wait is None:
        return _finish(delivery, status=OutboxStatus.DEAD, code=code, error=f"gave up after {delivery.attempts} attempts: {error}")
    WebhookDelivery.objects.filter(pk=delivery.pk, status=OutboxStatus.SENDING).update(
        status=OutboxStatus.PENDING, next_attempt_at=timezone.now() + wait, last_status_code=code, last_error=error[:300])
    delivery.refresh_from_db()
    return delivery
