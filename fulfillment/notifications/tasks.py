"""Celery tasks that deliver the outbox: one email, one webhook delivery, and the relay (beat) that
re-sends whatever is due. Thin: they take ids and call the notifications' services."""

from celery import shared_task

from fulfillment.models import EmailOutbox, WebhookDelivery
from fulfillment.notifications import delivery, emails, webhooks


@shared_task(name="fulfillment.notifications.tasks.deliver_webhook", ignore_result=True, acks_late=True)
def deliver_webhook(delivery_id: int) -> None:
    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="fulfillment.notifications.tasks.send_email", ignore_result=True, acks_late=True)
def send_email(message_id: int) -> None:
    emails.email_send(message_id=message_id)


@shared_task(name="fulfillment.notifications.tasks.relay_outbox", ignore_result=True)
def relay_outbox() -> None:
    """Send what is due: retries whose time has come, and messages whose first send was lost."""
    for pk in delivery.due(WebhookDelivery):
        deliver_webhook.delay(pk)
    for pk in delivery.due(EmailOutbox):
        send_email.delay(pk)
