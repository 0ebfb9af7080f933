"""A released compounding record is frozen to PDF by a real worker (the `pdf` queue), its SHA-256 stored and served
with the PDF; the PDF read back holds the recorded values. The PDF is kept in var/screens/ to be looked at."""

import datetime as dt
import hashlib
import time
from pathlib import Path

import pytest

from fulfillment.models import CompoundingRecord
from tests.builders import pdf_text, released_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"


def test_the_worker_freezes_the_released_record(celery_worker_process, api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answer = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").json()
        if answer["pdf_ready"]:
            break
        time.sleep(0.5)
    else:
        pytest.fail(celery_worker_process.log_path.read_text()[-3000:])
    pdf = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/?format=pdf")
    record = CompoundingRecord.objects.get(job__public_id=job["id"])
    assert pdf["X-Content-SHA256"] == answer["pdf_sha256"] == record.pdf_sha256 == hashlib.sha256(pdf.content).hexdigest()
    SCREENS.mkdir(parents=True, exist_ok=True)
    (SCREENS / "compounding-record.pdf").write_bytes(pdf.content)
    text = pdf_text(pdf.content)
    assert f"{answer['mfr']['code']} version 1" in text and answer["components"][0]["lot"] in text and day(answer["beyond_use_date"]) in text
    assert "fulfillment.tasks.render_record_pdf" in celery_worker_process.log_path.read_text()


def day(iso: str) -> str:
    """A date as the record's PDF writes it for people: "Jan 5, 2027"."""
    d = dt.date.fromisoformat(iso)
    return f"{d:%b} {d.day}, {d.year}"
