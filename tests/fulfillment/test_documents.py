"""Hostile input in documents: markup in names is text in every PDF, and the renderer fetches nothing."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from fulfillment import documents
from fulfillment.models import Worksheet
from tests.builders import pdf_text, released_job

pytestmark = pytest.mark.django_db
EVIL_IMG = "<img src=x onerror=alert(1)>"
EVIL_LINK = "<link rel=attachment href=file:///etc/passwd>"


# --- Hostile input in documents ---------------------------------------------------------------

def test_markup_in_patient_names_is_text_in_every_pdf(api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff, first=EVIL_IMG, last=EVIL_LINK)
    worksheet = Worksheet.objects.get(job__public_id=job["id"])
    label = staff["tech"].get(f"/api/v1/jobs/{job['id']}/label/").content
    assert EVIL_IMG in pdf_text(label)  # printed as the text it is
    reader = PdfReader(io.BytesIO(label))
    assert "/EmbeddedFiles" not in str(reader.trailer["/Root"])  # no attachment was made of /etc/passwd
    with worksheet.pdf.open("rb") as handle:
        sheet = handle.read()
    assert "root:" not in pdf_text(sheet) and "/EmbeddedFiles" not in str(PdfReader(io.BytesIO(sheet)).trailer["/Root"])


def test_the_renderer_fetches_nothing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOP-SECRET")
    hostile = (f'<html><head><link rel="stylesheet" href="file://{secret}"><link rel="attachment" href="file://{secret}"></head>'
               f'<body><img src="file://{secret}"><img src="http://127.0.0.1:9/x.png"><p>hello</p></body></html>')
    pdf, refused = documents.render_pdf(hostile)
    assert any(url.startswith("file://") for url in refused) and any(url.startswith("http://") for url in refused)
    assert "TOP-SECRET" not in pdf_text(pdf) and b"TOP-SECRET" not in pdf
    assert "/EmbeddedFiles" not in str(PdfReader(io.BytesIO(pdf)).trailer["/Root"])
