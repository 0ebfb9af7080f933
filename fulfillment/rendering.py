"""Rendering a worksheet, idempotently: one render per version, however often the message comes.

A render claims its worksheet with a conditional update (queued or failed → rendering), renders
outside any transaction, then stores the PDF and flips the status with another conditional
update. A second delivery of the same message finds it rendering or ready and does nothing; a
render whose worker died is taken over once it is older than the hard time limit. After MAX_ATTEMPTS the worksheet is failed
for a person to look at, so a poison job cannot loop."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import F, Q
from django.utils import timezone

from fulfillment import documents
from fulfillment.models import RenderStatus, Worksheet

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def stale_after() -> dt.timedelta:
    """A render older than the hard time limit (plus a margin) is certainly dead: its child was killed."""
    return dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 15)


def worksheet_render(*, worksheet_id: int) -> Worksheet | None:
    now = timezone.now()
    claimable = Q(status__in=[RenderStatus.QUEUED, RenderStatus.FAILED], attempts__lt=MAX_ATTEMPTS) | Q(
        status=RenderStatus.RENDERING, started_at__lt=now - stale_after(), attempts__lt=MAX_ATTEMPTS)
    claimed = Worksheet.objects.filter(claimable, pk=worksheet_id).update(
        status=RenderStatus.RENDERING, attempts=F("attempts") + 1, started_at=now, error="")
    worksheet = Worksheet.objects.select_related("job__preparation__order__patient", "job__preparation__order__prescriber__user").filter(
        pk=worksheet_id).first()
    if worksheet is None or claimed != 1:
        if (worksheet is not None and worksheet.status == RenderStatus.RENDERING and worksheet.attempts >= MAX_ATTEMPTS
                and worksheet.started_at and worksheet.started_at < now - stale_after()):
            Worksheet.objects.filter(pk=worksheet_id, status=RenderStatus.RENDERING).update(
                status=RenderStatus.FAILED, error=f"Gave up after {worksheet.attempts} attempts; retry from the job page.")
        return worksheet  # ready, being rendered by another worker, or gone: nothing to do
    try:
        pdf = documents.worksheet_pdf(worksheet.job, worksheet.version)
    except Exception as exc:  # any failure of the renderer: record it, keep the job as it was
        log.exception("worksheet %s v%s failed", worksheet.job.number, worksheet.version)
        Worksheet.objects.filter(pk=worksheet_id, status=RenderStatus.RENDERING).update(
            status=RenderStatus.FAILED, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        raise
    name = f"worksheet-{worksheet.job.number}-v{worksheet.version}.pdf"
    worksheet.pdf.save(name, ContentFile(pdf), save=False)
    Worksheet.objects.filter(pk=worksheet_id, status=RenderStatus.RENDERING).update(
        status=RenderStatus.READY, pdf=worksheet.pdf.name, rendered_at=timezone.now())
    worksheet.refresh_from_db()
    return worksheet


def worksheets_resend(*, older_than: dt.timedelta | None = None) -> list[int]:
    """Worksheets whose message was lost (still queued after a while, e.g. the broker was down) or whose
    worker died mid-render (rendering past the hard time limit): send them again."""
    now = timezone.now()
    older_than = older_than or dt.timedelta(seconds=settings.WORKSHEET_RESEND_AFTER_SECONDS)
    return list(Worksheet.objects.filter(
        Q(status=RenderStatus.QUEUED, created_at__lt=now - older_than)
        | Q(status=RenderStatus.RENDERING, started_at__lt=now - stale_after())
    ).values_list("pk", flat=True)[:200])


def stored_pdf(stored, what: str) -> bytes:
    """A stored PDF's bytes. One gone from the storage is said in words (500, logged for the pharmacy), never a bare
    error page: the row says it was rendered, so the file was lost, not yet to come."""
    from portal.errors import ServiceError

    try:
        with stored.open("rb") as handle:
            return handle.read()
    except FileNotFoundError:
        log.error("%s: its stored PDF %s is missing", what, stored.name)
        raise ServiceError(f"The stored PDF of {what} is missing; the pharmacy has been told.", code="document_missing",
                           status=500) from None
