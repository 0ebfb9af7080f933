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


@shared_task(name="fulfillment.tasks.render_record_pdf", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=2, retry_backoff_max=60, max_retries=5)
def render_record_pdf(record_id: int) -> None:
    """A released compounding record's PDF, rendered once; its SHA-256 stored (idempotent)."""
    from fulfillment import records

    records.record_pdf_render(record_id=record_id)


@shared_task(name="fulfillment.tasks.resend_record_pdfs", ignore_result=True)
def resend_record_pdfs() -> None:
    from fulfillment import records

    for record_id in records.records_to_render():
        render_record_pdf.delay(record_id)


@shared_task(name="fulfillment.tasks.expire_claims", ignore_result=True)
def expire_claims() -> None:
    services.claims_expire()


@shared_task(name="fulfillment.tasks.poll_tracking", ignore_result=True)
def poll_tracking() -> None:
    from fulfillment import tracking

    tracking.shipments_poll()


@shared_task(name="fulfillment.tasks.render_order_print", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=2, retry_backoff_max=60, max_retries=3)
def render_order_print(order_id: int) -> None:
    from fulfillment import order_print

    order_print.order_print_render(order_id=order_id)
