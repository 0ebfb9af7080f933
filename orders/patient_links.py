"""The patient's status link: issue, revoke, resolve.

The token is HMAC-SHA256(SECRET_KEY, "patient-link:" + a random 128-bit salt), 256 bits, never
stored: the database keeps the salt and the token's SHA-256. The server can show the link to the
prescriber again; a copy of the database alone cannot open it. A link expires 30 days after the
order's last delivery, and never works for a cancelled or rejected order."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from orders.models import Order, OrderStatus, PatientLink

EXPIRES_AFTER_DELIVERY = dt.timedelta(days=30)
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def link_token(link: PatientLink) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"patient-link:{link.salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(link: PatientLink) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/s/{link_token(link)}/"


@transaction.atomic
def patient_link_issue(*, order: Order) -> PatientLink:
    """A new link for the order; any earlier one stops working."""
    PatientLink.objects.filter(order=order, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link = PatientLink(order=order, salt=secrets.token_hex(16))
    link.token_hash = _hash(link_token(link))
    link.save()
    return link


def patient_link_revoke(*, order: Order) -> int:
    return PatientLink.objects.filter(order=order, revoked_at__isnull=True).update(revoked_at=timezone.now())


def patient_link_current(*, order: Order) -> PatientLink | None:
    return PatientLink.objects.filter(order=order, revoked_at__isnull=True).order_by("-created_at").first()


def patient_link_resolve(token: str, *, now: dt.datetime | None = None) -> PatientLink | None:
    """The live link for `token`, or None whatever the reason (shape, unknown, revoked, expired, cancelled)."""
    if not isinstance(token, str) or not TOKEN_SHAPE.match(token):
        return None
    link = PatientLink.objects.select_related("order__patient").filter(token_hash=_hash(token), revoked_at__isnull=True).first()
    if link is None or link.order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.DRAFT):
        return None
    from fulfillment.models import Job, JobStatus, Shipment

    jobs = Job.objects.filter(preparation__order=link.order).exclude(status=JobStatus.CANCELLED)
    if jobs.exists() and not jobs.exclude(status=JobStatus.DELIVERED).exists():
        last = Shipment.objects.filter(orders=link.order).aggregate(last=Max("delivered_at"))["last"]
        if last is not None and (now or timezone.now()) > last + EXPIRES_AFTER_DELIVERY:
            return None
    return link
