"""The PDFs that leave the pharmacy (worksheets, labels): one door for the pages and the API, that
checks the document exists, records the download as an access event and answers with no-store."""

from __future__ import annotations

from django.http import HttpResponse

from fulfillment import documents
from fulfillment.rendering import stored_pdf
from fulfillment.models import Job, Worksheet
from portal.audit import record_access
from portal.errors import NotFound
from portal.models import AccessAction

def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def worksheet_download(request, job: Job, worksheet: Worksheet) -> HttpResponse:
    """A rendered worksheet version (the caller picked a ready one)."""
    record_access(request, object_type="worksheet", object_id=f"{job.public_id} v{worksheet.version}",
                  patient_id=job.preparation.order.patient_id, action=AccessAction.DOWNLOAD)
    pdf = stored_pdf(worksheet.pdf, f"worksheet version {worksheet.version} of {job.number}")
    return pdf_response(pdf, f"worksheet-{job.number}-v{worksheet.version}.pdf")


def record_download(request, job: Job, record) -> HttpResponse:
    """A released record's frozen PDF with its stored SHA-256 (X-Content-SHA256); 409 before release, 202 while rendering."""
    from fulfillment import records
    from portal.errors import Conflict, ServiceError

    if record.frozen is None:
        raise Conflict(f"The compounding record of {job.number} is frozen as a PDF at release; it is not released yet.",
                       code="record_not_released")
    if not record.pdf_sha256:
        raise ServiceError("The PDF of this record is being rendered; try again in a few seconds.", code="rendering", status=202)
    pdf = records.record_pdf_bytes(record)
    record_access(request, object_type="compounding record PDF", object_id=job.public_id, patient_id=job.preparation.order.patient_id,
                  action=AccessAction.DOWNLOAD)
    response = pdf_response(pdf, f"compounding-record-{job.number}.pdf")
    response["X-Content-SHA256"] = record.pdf_sha256
    return response


def label_download(request, job: Job) -> HttpResponse:
    if not hasattr(job, "record"):
        raise NotFound("The label prints once the compounding record is entered.")
    record_access(request, object_type="label", object_id=job.public_id, patient_id=job.preparation.order.patient_id,
                  action=AccessAction.DOWNLOAD)
    return pdf_response(documents.label_pdf(job), f"label-{job.number}.pdf")


def shipment_labels_download(request, shipment) -> HttpResponse:
    """Every label of one package, one per page (each job's patient is recorded as read)."""
    jobs = list(shipment.jobs.select_related("preparation__order").order_by("number"))
    if not jobs:
        raise NotFound("This shipment holds no jobs.")
    record_access(request, object_type="shipment labels", object_id=shipment.public_id, patient_id=shipment.patient_id,
                  action=AccessAction.DOWNLOAD)
    return pdf_response(documents.labels_pdf(jobs), f"labels-{shipment.tracking_number}.pdf")
