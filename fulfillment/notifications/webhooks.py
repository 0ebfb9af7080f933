"""Webhook endpoints and deliveries, Standard Webhooks style.

Headers: webhook-id, webhook-timestamp, webhook-signature ("v1," + base64 HMAC-SHA256 over
"id.timestamp.body" with the base64-decoded part of the whsec_ secret), plus webhook-attempt.
URLs must be https and must not resolve to a private, loopback or link-local address (loopback
is allowed outside production, for development receivers). The check runs again before every
delivery, so a name that later resolves elsewhere is caught."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fulfillment.fhir.events import fill as fill_fhir_payload
from fulfillment.models import OutboxStatus, PayloadFormat, WebhookDelivery, WebhookEndpoint
from fulfillment.notifications.outbox import EVENT_TYPES, claim, retry_delay, webhook_schedule
from portal.errors import NotFound, ServiceError


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def url_problem(url: str) -> str | None:
    """Why a webhook URL is refused, or None."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Use an absolute https:// URL."
    if parts.scheme != "https" and not settings.WEBHOOK_ALLOW_INSECURE:
        return "Webhook URLs must use https."
    if parts.username or parts.password:
        return "Put no credentials in the URL; verify our signature instead."
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError, ValueError):
        return f"The host {parts.hostname} cannot be resolved."
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%")[0])
        if address.is_loopback and settings.WEBHOOK_ALLOW_INSECURE:
            continue
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved or address.is_multicast \
                or address.is_unspecified:
            return f"{parts.hostname} points at a private address ({address}); use a public endpoint."
    return None


def endpoint_create(*, clinic, by, url: str, event_types: list[str], description: str = "",
                    payload_format: str = PayloadFormat.JSON) -> WebhookEndpoint:
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
    return WebhookEndpoint.objects.create(clinic=clinic, url=url, secret=new_secret(), event_types=list(dict.fromkeys(event_types)),
                                          description=(description or "")[:200], created_by=by, payload_format=payload_format)


def endpoint_get(*, clinic, public_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(clinic=clinic, public_id=public_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again now (a person asked): a fresh attempt, whatever happened before."""
    from fulfillment.notifications.tasks import deliver_webhook

    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(status=OutboxStatus.SENDING).update(
        status=OutboxStatus.PENDING, next_attempt_at=timezone.now())
    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk), robust=True)
    delivery.refresh_from_db()
    return delivery


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer like any other; never follow it somewhere else


_opener = urllib.request.build_opener(_NoRedirect)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt. No database transaction is open while the HTTP request runs."""
    held = claim(WebhookDelivery, delivery_id)
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None or not held:
        return delivery
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, status=OutboxStatus.DEAD, error=f"endpoint disabled: {endpoint.disabled_reason}")
    problem = url_problem(endpoint.url)
    if problem:
        return _retry_or_dead(delivery, code=None, error=problem)
    fhir = endpoint.payload_format == PayloadFormat.FHIR
    if fhir and delivery.event.fhir_payload is None:
        fill_fhir_payload(delivery.event_id)  # its after-commit build was lost
        delivery.event.refresh_from_db(fields=["fhir_payload"])
    fhir = fhir and delivery.event.fhir_payload is not None
    body = json.dumps(delivery.event.fhir_payload if fhir else delivery.event.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "content-type": "application/fhir+json" if fhir else "application/json",
        "user-agent": "compounding-portal-webhooks/1",
        "webhook-id": delivery.event.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint.secret, delivery.event.public_id, timestamp, body),
        "webhook-attempt": str(delivery.attempts),
    })
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _retry_or_dead(delivery, code=None, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    if 200 <= code < 300:
        return _finish(delivery, status=OutboxStatus.SENT, code=code, delivered=True)
    if code == 410:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_reason="The receiver answered 410 Gone.")
        return _finish(delivery, status=OutboxStatus.DEAD, code=code, error="410 Gone: endpoint disabled")
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
