"""The pharmacy side through the staff API and services: verification, claims, worksheets, records,
QC, release, labels, shipping and tracking, with their bad inputs."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from formulary.models import LotStatus, StockLot
from fulfillment import documents, rendering, tracking
from fulfillment.models import Job, RenderStatus, Shipment, Worksheet
from orders.models import Order

pytestmark = pytest.mark.django_db
EVIL_IMG = "<img src=x onerror=alert(1)>"
EVIL_LINK = "<link rel=attachment href=file:///etc/passwd>"


def pdf_text(pdf: bytes) -> str:
    """The PDF's words, with line breaks folded (a long line wraps anywhere)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def submit(api_as, prescriber, *, first="Maya", last="Lopez", ingredients=None, base="cream-base-pf", quantity=50, target_ph=5.0):
    body = {"patient": {"first_name": first, "last_name": last, "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": base, "quantity": quantity, "unit": "g", "target_ph": target_ph, "directions": "Apply nightly.",
                              "ingredients": ingredients if ingredients is not None else [{"ingredient": "pe9010", "percent": 1},
                                                                                       {"ingredient": "niacinamide", "percent": 4}]}]}
    response = api_as(prescriber.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    return response.json()


def approve(staff, order):
    warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"] if f["severity"] == "warning"})
    response = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": warnings}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def claimed_job(api_as, rivera, staff, **kw):
    order = submit(api_as, rivera, **kw)
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    worksheet = Worksheet.objects.get(job__public_id=job["id"])
    rendering.worksheet_render(worksheet_id=worksheet.pk)
    return order, job


def record_body(job_id, yield_grams=None, **overrides):
    job = Job.objects.get(public_id=job_id)
    batch = documents.batch_lines(job)
    lots = [{"item": line["item"], "lot_number": line["lots"][0]["lot_number"], "actual_grams": line["quantity"]} for line in batch["lines"]]
    for item, change in overrides.items():
        for line in lots:
            if line["item"] == item:
                line.update(change)
    return {"lots": lots, "actual_yield_grams": yield_grams if yield_grams is not None else batch["quantity"]}


# --- Verification ---------------------------------------------------------------------------

def test_approval_needs_every_warning_acknowledged_and_makes_one_job_per_preparation(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    refused = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": []}, format="json")
    assert refused.status_code == 400 and "AW_NOT_MEASURED" in refused.json()["error"]["message"]
    approved = approve(staff, order)
    assert approved["status"] == "approved" and approved["preparations"][0]["status"] == "queued"
    assert Job.objects.filter(preparation__order__public_id=order["id"]).count() == 1


def test_technician_cannot_approve_and_prescriber_cannot_use_staff_endpoints(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    assert staff["tech"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]},
                              format="json").status_code == 409
    doctor = api_as(rivera.user)
    for url in ("/api/v1/jobs/", "/api/v1/jobs/claim-next/", f"/api/v1/orders/{order['id']}/approve/"):
        assert (doctor.get(url) if url.endswith("jobs/") else doctor.post(url, {}, format="json")).status_code == 403


def test_reject_and_clarify(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    assert staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/reject/", {}, format="json").status_code == 400
    asked = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/request-clarification/", {"question": "Which arm?"}, format="json")
    assert asked.json()["status"] == "clarification_requested"
    other = submit(api_as, rivera, first="Bo")
    rejected = staff["pharmacist"].post(f"/api/v1/orders/{other['id']}/reject/", {"reason": "Duplicate of an order"}, format="json")
    assert rejected.json()["status"] == "rejected"


# --- Claims ------------------------------------------------------------------------------

def test_claim_next_takes_priority_then_age_and_release_returns_it(api_as, rivera, staff, ready):
    first, second = submit(api_as, rivera, first="A"), submit(api_as, rivera, first="B")
    approve(staff, first)
    approve(staff, second)
    Job.objects.filter(preparation__order__public_id=second["id"]).update(priority=5)
    claimed = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    assert claimed["order"] == second["id"] and claimed["status"] == "compounding" and claimed["claimed_by"] == "techie"
    released = staff["tech"].post(f"/api/v1/jobs/{claimed['id']}/release/").json()
    assert released["status"] == "queued" and released["claimed_by"] is None
    assert staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"] == claimed["id"]
    staff["tech"].post("/api/v1/jobs/claim-next/")
    empty = staff["tech"].post("/api/v1/jobs/claim-next/")
    assert empty.status_code == 404 and empty.json()["error"]["code"] == "queue_empty"


def test_expired_claims_return_to_the_queue(api_as, rivera, staff, ready):
    from fulfillment.services import claims_expire

    order = submit(api_as, rivera)
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    assert claims_expire(now=timezone.now() + dt.timedelta(hours=2)) == 1
    assert Job.objects.get(public_id=job["id"]).status == "queued"


# --- Worksheets ---------------------------------------------------------------------------

def test_worksheet_grams_match_the_engine_to_the_milligram(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    response = staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf" and response["Cache-Control"] == "no-store"
    text = pdf_text(response.content)
    engine = order["preparations"][0]
    # 50 g with 5 % overage = 52.5 g; 1 % pe9010 = 0.53 g, 4 % niacinamide = 2.10 g, the base the remainder
    expected = {"pe9010": "0.53", "niacinamide": "2.1", "cream-base-pf": "49.87"}
    assert "Batch 52.5 g" in text
    for item, grams in expected.items():
        assert re.search(rf"{re.escape(item)}.*?{re.escape(grams)}", text, re.S), (item, grams)
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
    use_by = (timezone.localdate() + dt.timedelta(days=35)).isoformat()
    for part in ("Maya Lopez", "Niacinamide", "4.0 %", f"Use by {use_by}", "Store at 20–25 °C or in a refrigerator", job["number"],
                 "Rivera", "Northwind Compounding Pharmacy", "Compounded preparation"):
        assert part in text, part


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"niacinamide": {"lot_number": "PANTHENOL-01"}}, "lots[1].lot_number", "is of panthenol"),
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


# --- Shipping and tracking ---------------------------------------------------------------

def released_job(api_as, rivera, staff, **kw):
    order, job = claimed_job(api_as, rivera, staff, **kw)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    ph = kw.get("target_ph", 5.0)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": ph, "appearance_ok": True, "fill_weight": kw.get("quantity", 50)}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    return order, job


def test_shipping_before_qc_is_409(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": "SIM000001"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize("number", ["SIM 12345", "X" * 200, "abc"])
def test_bad_tracking_numbers(api_as, rivera, staff, ready, number):
    order, job = released_job(api_as, rivera, staff)
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": number}, format="json")
    assert response.status_code == 400 and "tracking_number" in response.json()["error"]["fields"]
    assert Shipment.objects.count() == 0


def test_cold_pack_is_required_for_refrigerated_preparations(api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff, ingredients=[{"ingredient": "niacinamide", "percent": 4}], target_ph=5.5)
    assert Job.objects.get(public_id=job["id"]).preparation.storage == "refrigerate"
    body = {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight", "tracking_number": "SIM-COLD-1"}
    refused = staff["tech"].post("/api/v1/shipments/", body, format="json")
    assert refused.status_code == 400 and "cold_pack" in refused.json()["error"]["fields"]
    assert staff["tech"].post("/api/v1/shipments/", {**body, "cold_pack": True}, format="json").status_code == 201


def test_tracking_moves_forward_only_and_delivers(api_as, rivera, staff, ready, settings):
    order, job = released_job(api_as, rivera, staff)
    shipment = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": "SIM777777"}, format="json").json()
    record = Shipment.objects.get(public_id=shipment["id"])
    step = dt.timedelta(seconds=settings.SIMULATED_CARRIER_STEP_SECONDS)
    tracking.shipments_poll(now=record.shipped_at + step * 2)
    record.refresh_from_db()
    assert record.status == "out_for_delivery" and Job.objects.get(public_id=job["id"]).status == "shipped"
    # a late, repeated "in transit" from the carrier's webhook is kept but never moves the parcel back
    late = tracking.CarrierEvent("late-1", "in_transit", record.shipped_at + step * 3, "Scan at hub")
    tracking.tracking_apply(shipment=record, events=[late])
    record.refresh_from_db()
    assert record.status == "out_for_delivery" and record.events.count() == 3
    assert tracking.shipments_poll(now=record.shipped_at + step * 2) == 0  # duplicates are not appended twice
    tracking.shipments_poll(now=record.shipped_at + step * 4)
    record.refresh_from_db()
    assert record.status == "delivered" and Job.objects.get(public_id=job["id"]).status == "delivered"
    assert Order.objects.get(public_id=order["id"]).preparations.get().status == "delivered"


def test_carrier_webhook_needs_a_valid_signature(api_client, api_as, rivera, staff, ready, settings):
    order, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM888888"}, format="json")
    payload = json.dumps({"tracking_number": "SIM888888", "event_id": "w1", "status": "delivered",
                          "occurred_at": (timezone.now() + dt.timedelta(hours=1)).isoformat()}).encode()
    bad = api_client.generic("POST", "/api/v1/carriers/simulated/webhook/", payload, content_type="application/json",
                             HTTP_X_CARRIER_SIGNATURE="0" * 64)
    assert bad.status_code == 401
    good = api_client.generic("POST", "/api/v1/carriers/simulated/webhook/", payload, content_type="application/json",
                              HTTP_X_CARRIER_SIGNATURE=tracking.webhook_signature(settings.CARRIER_WEBHOOK_SECRET, payload))
    assert good.status_code == 200 and good.json() == {"accepted": 1}
    assert Job.objects.get(public_id=job["id"]).status == "delivered"


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
