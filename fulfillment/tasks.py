"""Celery tasks: thin entry points that take ids, load, re-check and call a service. Services queue them
(after commit); they import no service that queues them back. The notifications' tasks are in
fulfillment.notifications.tasks."""

from celery import shared_task

from fulfillment import order_print, records, rendering, tracking, upkeep


@shared_task(name="fulfillment.tasks.worker_heartbeat", bind=True, ignore_result=True)
def worker_heartbeat(self) -> None:
    upkeep.worker_heartbeat_record(hostname=self.request.hostname or "unknown")


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
    records.record_pdf_render(record_id=record_id)


@shared_task(name="fulfillment.tasks.resend_record_pdfs", ignore_result=True)
def resend_record_pdfs() -> None:
    for record_id in records.records_to_render():
        render_record_pdf.delay(record_id)


@shared_task(name="fulfillment.tasks.expire_claims", ignore_result=True)
def expire_claims() -> None:
    upkeep.claims_expire()


@shared_task(name="fulfillment.tasks.poll_tracking", ignore_result=True)
def poll_tracking() -> None:
    tracking.shipments_poll()


@shared_task(name="fulfillment.tasks.render_order_print", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=2, retry_backoff_max=60, max_retries=3)
def render_order_print(order_id: int) -> None:
    order_print.order_print_render(order_id=order_id)


@shared_task(name="fulfillment.tasks.request_auto_refills", ignore_result=True, acks_late=True)
def request_auto_refills(today: str | None = None) -> None:
    """Beat: request every automatic refill that is due (fulfillment.refills.auto_refills_request). `today` (ISO date)
    only for tests and replays; the beat sends none."""
    import datetime as dt

    from fulfillment.refills import auto_refills_request
    from portal.history import history_context

    with history_context(task="request_auto_refills"):
        auto_refills_request(today=dt.date.fromisoformat(today) if today else None)
