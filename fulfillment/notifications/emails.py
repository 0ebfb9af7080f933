"""Emails from the outbox: rendered when sent (HTML and plain text), retried with backoff."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone

from fulfillment.models import EmailOutbox, OutboxStatus
from fulfillment.notifications.outbox import claim, retry_delay

SUBJECTS = {
    "patient_approved": "Your compounded preparation is being made",
    "patient_shipped": "Your compounded preparation has shipped",
    "patient_delivered": "Your compounded preparation was delivered",
    "prescriber_clarification": "The pharmacist has a question about order {number}",
    "prescriber_rejected": "Order {number} was not accepted",
    "prescriber_shipped": "Order {number} has shipped",
}
RETRY = [60, 300, 1800, 7200, 21600]


def _context(message: EmailOutbox) -> dict:
    from fulfillment.models import Shipment
    from fulfillment.tracking import CARRIERS
    from orders.patient_links import link_url, patient_link_current

    order = message.order
    link = patient_link_current(order=order)
    shipment = Shipment.objects.filter(orders=order).order_by("-shipped_at").first()
    last_event = order.events.order_by("-sequence").first()
    carrier = CARRIERS.get(shipment.carrier) if shipment else None
    return {
        "order": order,
        "first_name": order.patient.first_name,
        "pharmacy": settings.PHARMACY_NAME,
        "status_url": link_url(link) if link else None,
        "shipment": shipment,
        "tracking_url": (carrier.tracking_url(shipment.tracking_number) or None) if carrier else None,
        "message": last_event.message if last_event else "",
        "order_url": f"{settings.SITE_URL.rstrip('/')}/orders/{order.public_id}/",
    }


def email_send(*, message_id: int) -> EmailOutbox | None:
    held = claim(EmailOutbox, message_id)
    message = EmailOutbox.objects.select_related("order__patient", "order__prescriber__user").filter(pk=message_id).first()
    if message is None or not held:
        return message
    context = _context(message)
    subject = SUBJECTS[message.template].format(number=message.order.number)
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
