"""Emails from the outbox: rendered when sent (HTML and plain text) from the order and the row's payload,
retried with backoff."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone

from fulfillment.carriers import tracking_url
from fulfillment.models import EmailOutbox, OutboxStatus, Shipment
from fulfillment.notifications.delivery import claim, retry_delay
from orders.models import Order
from orders.patient_links import link_url, patient_link_current

SUBJECTS = {
    "patient_approved": "Your compounded preparation is being made",
    "patient_shipped": "Your compounded preparation has shipped",
    "patient_delivered": "Your compounded preparation was delivered",
    "prescriber_clarification": "The pharmacist has a question about order {number}",
    "prescriber_rejected": "Order {number} was not accepted",
    "prescriber_shipped": "Order {number} has shipped",
}
# A parcel carrying several of the patient's orders: one email about all of them.
SUBJECTS_SEVERAL = {
    "patient_shipped": "Your compounded preparations have shipped",
    "patient_delivered": "Your compounded preparations were delivered",
}
RETRY = [60, 300, 1800, 7200, 21600]


def _orders_of(message: EmailOutbox, payload: dict) -> list[dict]:
    """The orders a parcel's email names (its payload's order_ids), each with its own live status link; [] for an
    email about one order."""
    ids = payload.get("order_ids") or []
    if len(ids) < 2:
        return []
    by_id = {str(o.public_id): o for o in Order.objects.filter(public_id__in=ids, patient_id=message.order.patient_id)}
    named = []
    for order in (by_id[i] for i in ids if i in by_id):
        link = patient_link_current(order=order)
        named.append({"number": order.number, "status_url": link_url(link) if link else None})
    return named


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _context(message: EmailOutbox) -> dict:
    """The order, the patient's live status link (made from a secret, so never stored in the row), and what
    the change put in the row's payload when it queued the email."""
    order = message.order
    link = patient_link_current(order=order)
    payload = message.payload or _payload_of_old_row(message)
    orders = _orders_of(message, payload)
    return {
        "orders": orders,
        "orders_text": _and([o["number"] for o in orders]) if orders else "",
        "order": order,
        "first_name": order.patient.first_name,
        "pharmacy": settings.PHARMACY_NAME,
        "status_url": link_url(link) if link else None,
        "shipment": payload.get("shipment"),
        "tracking_url": payload.get("tracking_url"),
        "message": payload.get("message", ""),
        "order_url": f"{settings.SITE_URL.rstrip('/')}/orders/{order.public_id}/",
    }


def _payload_of_old_row(message: EmailOutbox) -> dict:
    """Rows queued before emails carried a payload: what the change would have put there, looked up now."""
    shipment = Shipment.objects.filter(orders=message.order).order_by("-shipped_at").first()
    last_event = message.order.events.order_by("-sequence").first()
    payload = {"message": last_event.message if last_event else ""}
    if shipment is not None:
        payload["shipment"] = {"carrier": shipment.carrier, "service": shipment.service, "tracking_number": shipment.tracking_number,
                               "cold_pack": shipment.cold_pack}
        payload["tracking_url"] = tracking_url(shipment)
    return payload


def email_send(*, message_id: int) -> EmailOutbox | None:
    held = claim(EmailOutbox, message_id)
    message = EmailOutbox.objects.select_related("order__patient", "order__prescriber__user").filter(pk=message_id).first()
    if message is None or not held:
        return message
    context = _context(message)
    subject = (SUBJECTS_SEVERAL.get(message.template) if context["orders"] else None) or SUBJECTS[message.template]
    subject = subject.format(number=message.order.number)
    text = engines["text"].get_template(f"emails/{message.template}.txt").render(context)
    html = render_to_string(f"emails/{message.template}.html", context)
    email = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[message.to])
    email.attach_alternative(html, "text/html")
    try:
        email.send()
    except Exception as exc:  # SMTP and network errors of any kind: retry later
        wait = retry_delay(message.attempts, RETRY)
        fields = {"status": OutboxStatus.PENDING, "next_attempt_at": timezone.now() + wait} if wait else {"status": OutboxStatus.DEAD}
        EmailOutbox.objects.filter(pk=message.pk, status=OutboxStatus.SENDING).update(last_error=f"{type(exc).__name__}: {exc}"[:300], **fields)
    else:
        EmailOutbox.objects.filter(pk=message.pk, status=OutboxStatus.SENDING).update(status=OutboxStatus.SENT, sent_at=timezone.now())
    message.refresh_from_db()
    return message
