"""The compounding record (lots, weights, stock deducted), QC, and the pharmacist's release, with their bad inputs."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from formulary.models import LotStatus, StockLot
from fulfillment.models import Job
from portal.numbers import day_text
from tests.builders import claimed_job, pdf_text, record_body

pytestmark = pytest.mark.django_db


# --- Records, QC, release -------------------------------------------------------------------

def test_full_path_deducts_stock_and_releases(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    lot = StockLot.objects.get(lot_number="NIACINAMID-01")
    before = lot.quantity_on_hand
    recorded = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"], yield_grams="51.9"), format="json")
    assert recorded.status_code == 200 and recorded.json()["status"] == "qc"
    lot.refresh_from_db()
    assert lot.quantity_on_hand == before - Decimal("2.1")
    qc = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.2", "appearance_ok": True, "fill_weight": "50.4"}, format="json")
    assert qc.json()["passed"] is True
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 403
    verified = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/")
    assert verified.status_code == 200 and verified.json()["status"] == "ready"
    second = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/")
    assert second.status_code == 409  # a second release
    label = staff["tech"].get(f"/api/v1/jobs/{job['id']}/label/")
    text = pdf_text(label.content)
    use_by = day_text(timezone.localdate() + dt.timedelta(days=35))  # as people read a date (Jan 5, 2027), never ISO
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert "No refills" in text and "Refills 0 of 0" not in text  # none written: said in words (walk-through wk #3)
    for part in ("Maya Lopez", "Niacinamide", "4 %", f"Use by {use_by}", f"Compounded {day_text(timezone.localdate())}", "Store at 20–25 °C or in a refrigerator", job["number"],
                 "Rivera", "Northwind Compounding Pharmacy", "Compounded preparation"):
        assert part in text, part


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"niacinamide": {"lot_number": "PANTHENOL-01"}}, "lots[1].lot_number", "is of Panthenol"),
        ({"niacinamide": {"actual_grams": "two"}}, "lots.1.actual_grams", "valid number"),
        ({"niacinamide": {"actual_grams": "2.5"}}, "lots[1].actual_grams", "re-weigh"),
    ],
)
def test_bad_records_are_refused(api_as, rivera, staff, ready, change, field, words):
    order, job = claimed_job(api_as, rivera, staff)
    response = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"], **change), format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    flat = json.dumps(fields)
    assert words in flat, fields
    assert Job.objects.get(public_id=job["id"]).status == "compounding"


def test_expired_and_quarantined_lots_are_refused(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    StockLot.objects.filter(lot_number="NIACINAMID-01").update(expires_on=timezone.localdate() - dt.timedelta(days=1))
    body = record_body(job["id"], niacinamide={"lot_number": "NIACINAMID-01"})  # scanned from the shelf
    response = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "EXPIRED_COMPONENT"
    StockLot.objects.filter(lot_number="NIACINAMID-01").update(expires_on=timezone.localdate() + dt.timedelta(days=90),
                                                                status=LotStatus.QUARANTINED)
    response = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", body, format="json")
    assert response.status_code == 400 and "quarantined" in json.dumps(response.json())
    assert StockLot.objects.get(lot_number="PE9010-01").quantity_on_hand == Decimal(500)  # nothing deducted


def test_qc_bad_input_and_failure_sends_to_rework(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 15, "appearance_ok": True, "fill_weight": 50}, format="json").status_code == 400
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"appearance_ok": True, "fill_weight": 50}, format="json").status_code == 400
    failed = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "6.5", "appearance_ok": True, "fill_weight": "50.2"}, format="json")
    assert failed.json()["passed"] is False and failed.json()["job"]["status"] == "rework"
    assert "pH 6.5" in failed.json()["problems"][0]


def test_release_is_refused_when_the_label_lacks_the_storage_line(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.0", "appearance_ok": True, "fill_weight": "50.2"}, format="json")
    Job.objects.get(public_id=job["id"]).preparation.__class__.objects.filter(order__public_id=order["id"]).update(storage="unknown")
    response = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/")
    assert response.status_code == 409 and "storage line" in response.json()["error"]["message"]
