"""Celery tasks of the formulary: thin entry points to its services."""

from celery import shared_task

from formulary import services


@shared_task(name="formulary.tasks.expire_lots", ignore_result=True)
def expire_lots() -> None:
    """Released or quarantined lots past their expiry become expired (beat, hourly; idempotent)."""
    services.stock_lots_expire()
