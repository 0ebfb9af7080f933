"""Celery tasks: thin entry points that take ids, load, re-check and call a service."""

from celery import shared_task

from fulfillment import rendering, services


@shared_task(name="fulfillment.tasks.worker_heartbeat", bind=True, ignore_result=True)
def worker_heartbeat(self) -> None:
    services.worker_heartbeat_record(hostname=self.request.hostname or "unknown")


@shared_task(name="fulfillment.tasks.render_worksheet", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=2, retry_backoff_max=60, max_retries=3)
def render_worksheet(worksheet_id: int) -> None:
    rendering.worksheet_render(worksheet_id=worksheet_id)


@shared_task(name="fulfillment.tasks.resend_worksheets", ignore_result=True)
def resend_worksheets() -> None:
    for worksheet_id in rendering.worksheets_resend():
        render_worksheet.delay(worksheet_id)


@shared_task(name="fulfillment.tasks.expire_claims", ignore_result=True)
def expire_claims() -> None:
    services.claims_expire()


@shared_task(name="fulfillment.tasks.poll_tracking", ignore_result=True)
def poll_tracking() -> None:
    from fulfillment import tracking

    tracking.shipments_poll()


@shared_task(name="fulfillment.tasks.deliver_webhook", ignore_result=True, acks_late=True)
def deliver_webhook(delivery_id: int) -> None:
    from fulfillment import webhooks

    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="fulfillment.tasks.send_email", ignore_result=True, acks_late=True)
def send_email(message_id: int) -> None:
    from fulfillment import emails

    emails.email_send(message_id=message_id)


@shared_task(name="fulfillment.tasks.relay_outbox", ignore_result=True)
def relay_outbox() -> None:
    """Send what is due: retries whose time has come, and messages whose first send was lost."""
    from fulfillment import notify
    from fulfillment.models_notify import EmailOutbox, WebhookDelivery

    for pk in notify.due(WebhookDelivery):
        deliver_webhook.delay(pk)
    for pk in notify.due(EmailOutbox):
        send_email.delay(pk)
