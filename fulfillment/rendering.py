"""Rendering a worksheet, idempotently: one render per version, however often the message comes.

A render claims its worksheet with a conditional update (queued or failed → rendering), renders
outside any transaction, then stores the PDF and flips the status with another conditional
update. A second delivery of the same message finds it rendering or ready and does nothing; a
render whose worker died is taken over after STALE. After MAX_ATTEMPTS the worksheet is failed
for a person to look at, so a poison job cannot loop."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.files.base import ContentFile
from django.db.models import F, Q
from django.utils import timezone

from fulfillment import documents
from fulfillment.models import RenderStatus, Worksheet

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
STALE = dt.timedelta(minutes=3)


def worksheet_render(*, worksheet_id: int) -> Worksheet | None:
    now = timezone.now()
    claimable = Q(status__in=[RenderStatus.QUEUED, RenderStatus.FAILED], attempts__lt=MAX_ATTEMPTS) | Q(
        status=RenderStatus.RENDERING, started_at__lt=now - STALE, attempts__lt=MAX_ATTEMPTS)
    claimed = Worksheet.objects.filter(claimable, pk=worksheet_id).update(
        status=RenderStatus.RENDERING, attempts=F("attempts") + 1, started_at=now, error="")
    worksheet = Worksheet.objects.select_related("job__preparation__order__patient", "job__preparation__order__prescriber__user").filter(
        pk=worksheet_id).first()
    if worksheet is None or claimed != 1:
        if worksheet is not None and worksheet.status == RenderStatus.RENDERING and worksheet.attempts >= MAX_ATTEMPTS:
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


def worksheets_resend(*, older_than: dt.timedelta = dt.timedelta(minutes=1)) -> list[int]:
    """Worksheets still queued a minute after they were asked for lost their message: send again."""
    return list(Worksheet.objects.filter(status=RenderStatus.QUEUED, created_at__lt=timezone.now() - older_than)
                .values_list("pk", flat=True)[:200])
