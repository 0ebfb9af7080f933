"""Worksheets: grams that match the engine, versions, failed and poison renders."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from fulfillment import documents, rendering
from fulfillment.models import Job, RenderStatus, Worksheet
from tests.builders import approve, claimed_job, pdf_text, submit

pytestmark = pytest.mark.django_db


# --- Worksheets ---------------------------------------------------------------------------

def test_worksheet_grams_match_the_engine_to_the_milligram(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    response = staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf" and response["Cache-Control"] == "no-store"
    text = pdf_text(response.content)
    engine = order["preparations"][0]
    # 50 g with 5 % overage = 52.5 g; 1 % pe9010 = 0.53 g, 4 % niacinamide = 2.10 g, the base the remainder
    # (the worksheet names materials, never codes: a name's first word, then its grams)
    expected = {"Phenoxyethanol": "0.53", "Niacinamide": "2.1", "Oil-in-water": "49.87"}
    assert "Batch 52.5 g" in text
    for item, grams in expected.items():
        assert re.search(rf"{re.escape(item)}.*?{re.escape(grams)}", text, re.DOTALL), (item, grams)
    for lot in ("PE9010-01", "NIACINAMID-01", "CREAM-BASE-01"):
        assert lot in text
    batch = Job.objects.get(public_id=job["id"]).preparation.checked["batch"]
    assert sum(Decimal(str(line["quantity"])) for line in batch["lines"]) == Decimal("52.5")
    assert "Beyond-use date: compounding date + 35 days" in text and engine["beyond_use_days"] == 35


def test_rendering_twice_makes_one_version_and_a_retry_makes_a_new_one(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    worksheet = Worksheet.objects.get(job__public_id=job["id"])
    name = worksheet.pdf.name
    rendering.worksheet_render(worksheet_id=worksheet.pk)  # a second delivery of the same message
    worksheet.refresh_from_db()
    assert worksheet.pdf.name == name and worksheet.attempts == 1 and Worksheet.objects.filter(job=worksheet.job).count() == 1
    again = staff["tech"].post(f"/api/v1/jobs/{job['id']}/worksheet/")
    assert again.status_code == 202 and again.json()["version"] == 2
    assert staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/").status_code == 202  # v2 is still queued


def test_a_failed_render_leaves_the_job_as_it_was_with_a_retry(api_as, rivera, staff, ready, monkeypatch):
    order = submit(api_as, rivera)
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    worksheet = Worksheet.objects.get(job__public_id=job["id"])

    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(documents, "worksheet_pdf", broken)
    with pytest.raises(RuntimeError):
        rendering.worksheet_render(worksheet_id=worksheet.pk)
    worksheet.refresh_from_db()
    assert worksheet.status == RenderStatus.FAILED and "renderer crashed" in worksheet.error
    progress = staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/")
    assert progress.status_code == 202 and progress.json()["status"] == "failed"
    assert Job.objects.get(public_id=job["id"]).status == "compounding"
    monkeypatch.undo()
    rendering.worksheet_render(worksheet_id=worksheet.pk)  # the task's retry
    worksheet.refresh_from_db()
    assert worksheet.status == RenderStatus.READY and worksheet.attempts == 2


def test_poison_worksheet_stops_after_max_attempts(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    worksheet = Worksheet.objects.get(job__public_id=job["id"])
    Worksheet.objects.filter(pk=worksheet.pk).update(status=RenderStatus.RENDERING, attempts=rendering.MAX_ATTEMPTS,
                                                     started_at=timezone.now() - dt.timedelta(hours=1))
    rendering.worksheet_render(worksheet_id=worksheet.pk)
    worksheet.refresh_from_db()
    assert worksheet.status == RenderStatus.FAILED and "Gave up" in worksheet.error
