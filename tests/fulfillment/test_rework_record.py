"""Rework after a failed QC (USP <795> 7.3): the failed batch's compounding record is kept as it was, with its QC
failure, and the rework's batch gets its own record (attempt 2). The record page and the API show the current attempt
and list the earlier one; the released record's frozen PDF names the failed attempt as a deviation."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from fulfillment import records
from fulfillment.models import CompoundingRecord, Job
from pypdf import PdfReader

from tests.builders import claimed_job, pdf_text, record_body
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def test_a_reworked_job_keeps_the_failed_record_and_releases_the_second(client, api_as, rivera, staff, ready, pharmacist, password):
    order, job = claimed_job(api_as, rivera, staff)
    url = f"/api/v1/jobs/{job['id']}"
    assert staff["tech"].post(f"{url}/record/", record_body(job["id"]), format="json").status_code == 200
    failed = staff["tech"].post(f"{url}/qc/", {"ph": "6.5", "appearance_ok": True, "fill_weight": "50"}, format="json").json()
    assert failed["job"]["status"] == "rework"
    first = CompoundingRecord.objects.get(attempt_of__public_id=job["id"], attempt=1)
    kept = (first.actual_yield_grams, first.recorded_at, list(first.lines.values_list("lot_number", "actual_grams")))

    # In rework, before the next batch: the API shows the failed attempt, kept, and refuses to change it.
    seen = staff["pharmacist"].get(f"{url}/compounding-record/").json()
    assert seen["status"] == "failed_qc" and seen["attempt"] == 1 and "pH 6.5 is outside" in seen["qc_attempts"][0]["problems"][0]
    refused = staff["tech"].post(f"{url}/compounding-record/deviations/", {"what": "x", "reason": "y"}, format="json")
    assert refused.status_code == 409

    # Claimed again, made again, recorded again: a second record, not a 500.
    assert staff["tech"].post(f"{url}/claim/").status_code == 200
    again = staff["tech"].post(f"{url}/record/", record_body(job["id"], yield_grams="51"), format="json")
    assert again.status_code == 200, again.json()
    current = staff["pharmacist"].get(f"{url}/compounding-record/").json()
    assert current["status"] == "open" and current["attempt"] == 2 and current["qc_attempts"] == []
    assert [a["attempt"] for a in current["earlier_attempts"]] == [1]
    assert "pH 6.5 is outside" in current["earlier_attempts"][0]["outcome"]

    passed = staff["tech"].post(f"{url}/qc/", {"ph": "5.0", "appearance_ok": True, "fill_weight": "50"}, format="json").json()
    assert passed["passed"] is True
    assert staff["pharmacist"].post(f"{url}/verify/").status_code == 200

    first.refresh_from_db()
    assert (first.actual_yield_grams, first.recorded_at, list(first.lines.values_list("lot_number", "actual_grams"))) == kept
    assert first.job_id is None and first.frozen is None and [q.passed for q in first.qc_results.all()] == [False]
    second = Job.objects.get(public_id=job["id"]).record
    assert second.attempt == 2 and second.frozen is not None and [q.passed for q in second.qc_results.all()] == [True]

    # The page: the current attempt, released, with the earlier one listed.
    sign_in(client, pharmacist, password)
    page = client.get(f"/pharmacy/jobs/{job['id']}/compounding-record/").content.decode()
    assert "attempt 2" in page and 'data-testid="record-earlier-attempts"' in page and "Attempt 1" in page and "pH 6.5 is outside" in page
    # Yields as people write them: 100 %, never "100.00 %" (walk-through wk #8); the job page's record line and history too.
    assert "yield 100 %:" in page and "<strong>97.14 %</strong>" in page and "100.00" not in page
    job_page = client.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    assert "g of 52.5 g (97.14 %)" in job_page and "(yield 100 %)." in job_page and "100.00" not in job_page

    # The frozen PDF, read back: attempt 2, the failed attempt 1 named as a deviation; its hash as stored.
    rendered = records.record_pdf_render(record_id=second.pk)  # the worker's task
    answer = staff["pharmacist"].get(f"{url}/compounding-record/?format=pdf")
    assert answer.status_code == 200 and answer["X-Content-SHA256"] == rendered.pdf_sha256 == hashlib.sha256(answer.content).hexdigest()
    text = pdf_text(answer.content)
    assert "attempt 2" in text and "Reworked: attempt 1 (yield 100 %;" in text and "pH 6.5 is outside" in text and "100.00" not in text
    assert "Completeness review and release" in text
    # Words for people: no internal id, moments as the portal writes them; the release line never stands alone on a page.
    assert str(Job.objects.get(public_id=job["id"]).preparation.mfr.public_id) not in text
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2}", text) and not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    last_page = PdfReader(io.BytesIO(answer.content)).pages[-1].extract_text()
    assert "Completeness review and release by the pharmacist" in last_page and "Completeness review and release:" in last_page
