"""The patient's status link: issue, revoke, resolve.

The token is HMAC-SHA256(SECRET_KEY, "patient-link:" + a random 128-bit salt), 256 bits, never
stored: the database keeps the salt and the token's SHA-256. The server can show the link to the
prescriber again; a copy of the database alone cannot open it. A link expires 30 days after the
order's last delivery was recorded, and never works for a cancelled or rejected order."""

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

from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus, PatientLink, Preparation, PreparationStatus

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
    # A preparation's status follows its job's (the job door sets both), and the job door records each
    # delivery as an event of the order: so orders can tell when the order's last preparation arrived.
    preparations = Preparation.objects.filter(order=link.order).exclude(status=PreparationStatus.CANCELLED)
    if preparations.exists() and not preparations.exclude(status=PreparationStatus.DELIVERED).exists():
        last = OrderEvent.objects.filter(order=link.order, kind=OrderEventKind.JOB_STATUS,
                                         to_status=PreparationStatus.DELIVERED).aggregate(last=Max("created_at"))["last"]
        if last is not None and (now or timezone.now()) > last + EXPIRES_AFTER_DELIVERY:
            return None
    return link
