"""End to end on the real stack: PostgreSQL, Redis, a Celery worker and a beat process, and Chromium.

dr.rivera's order is approved and claimed; the worker renders the worksheet, which the test opens
and reads back; the record, QC, release, label and shipment follow; beat's tracking poll has the
simulated carrier deliver it; dr.rivera's order page shows every step."""

from __future__ import annotations

import io
import re
import time
import uuid

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from fulfillment import documents
from fulfillment.models import Job
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import Receiver, approve_mfrs
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait(predicate, timeout=60.0, every=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def test_order_to_delivery(celery_worker_process, beat_process, live_server, page, api_as, rivera, pharmacist, technician, password,
                           formulary):
    _demo_pharmacy()
    _demo_stock(technician)
    doctor, pharm, tech = api_as(rivera.user), api_as(pharmacist), api_as(technician)
    holder = {}
    receiver = Receiver(holder)  # the clinic's platform, on loopback
    holder["secret"] = doctor.post("/api/v1/webhooks/", {"url": receiver.url, "event_types": ["order.status_changed",
                                   "preparation.status_changed", "shipment.tracking_updated"]}, format="json").json()["secret"]
    body = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly.",
                              "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4},
                                              {"ingredient": "bifida-ferment-lysate", "percent": 2}]}]}
    order = doctor.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    approve_mfrs(pharm, order)  # the pharmacist approves the proposed master formulation record first
    assert pharm.post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]},
                      format="json").status_code == 200
    job = tech.post("/api/v1/jobs/claim-next/").json()

    # the worker renders the worksheet; the API answers 202 with its progress meanwhile
    def worksheet():
        response = tech.get(f"/api/v1/jobs/{job['id']}/worksheet/")
        return response if response.status_code == 200 else None

    pdf = wait(worksheet)
    assert pdf is not None, celery_worker_process.log_path.read_text()[-3000:]
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    batch = documents.batch_lines(Job.objects.get(public_id=job["id"]))
    for line in batch["lines"]:
        first_word = re.split(r"[^A-Za-z]", line["name"])[0]  # the worksheet names materials, never codes
        assert re.search(rf"{re.escape(first_word)}.*?{re.escape(str(line['quantity']))}", text), line
        assert line["lots"][0]["lot_number"] in text
    print(f"\nworksheet read back: {[(line['item'], line['quantity'], line['lots'][0]['lot_number']) for line in batch['lines']]}")
    # the worker's writes are in the change history under the task's name; the claim under the technician's
    from fulfillment.models import JobHistory, WorksheetHistory

    rendered = WorksheetHistory.objects.filter(job__public_id=job["id"], status="ready").get()
    assert rendered.pgh_context["actor"] == "task fulfillment.tasks.render_worksheet"
    claimed = JobHistory.objects.filter(pgh_obj__public_id=job["id"], status="compounding").first()
    assert claimed.pgh_context["user"] == technician.pk and claimed.pgh_context["url"].endswith("/claim-next/")

    lots = [{"item": line["item"], "lot_number": line["lots"][0]["lot_number"], "actual_grams": line["quantity"]} for line in batch["lines"]]
    assert tech.post(f"/api/v1/jobs/{job['id']}/record/", {"lots": lots, "actual_yield_grams": "52.2"}, format="json").status_code == 200
    assert tech.post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.1", "appearance_ok": True, "fill_weight": "50.3"},
                     format="json").json()["passed"]
    assert pharm.post(f"/api/v1/jobs/{job['id']}/verify/").json()["status"] == "ready"
    label = tech.get(f"/api/v1/jobs/{job['id']}/label/")
    assert label.status_code == 200 and b"%PDF" in label.content[:8]
    shipment = tech.post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                               "tracking_number": "SIM-E2E-0001"}, format="json").json()

    # beat polls the simulated carrier every 2 s; it steps once a second here
    delivered = wait(lambda: tech.get(f"/api/v1/shipments/{shipment['id']}/").json()["status"] == "delivered", timeout=60)
    assert delivered, beat_process.log_path.read_text()[-2000:] + celery_worker_process.log_path.read_text()[-2000:]
    answer = doctor.get(f"/api/v1/orders/{order['id']}/").json()
    assert answer["preparations"][0]["status"] == "delivered" and answer["status"] == "delivered"  # the order follows its jobs

    # dr.rivera's page shows every step
    sign_in_browser(page, live_server.url, rivera.user, password, f"/orders/{order['id']}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Delivered")
    history = page.get_by_test_id("events")
    for step in ("Signed by", "Approved by", "queued for compounding", "claimed by", "compounding record entered", "QC passed",
                 "verified and released", "shipped by", "Order shipped", "Order delivered"):
        expect(history).to_contain_text(step)
    expect(page.locator("body")).to_contain_text("Delivered")

    # the worker delivered every event to the platform, signed, in order
    def all_events():
        ids = {item["id"] for item in receiver.received}
        return len(ids) >= 10 and any(item["body"]["data"].get("status") == "delivered" for item in receiver.received)

    assert wait(all_events, timeout=30), receiver.received
    receiver.close()
    assert all(receiver.verified)
    sequences = [item["body"]["data"]["sequence"] for item in receiver.received]
    assert sorted(set(sequences)) == list(range(1, max(sequences) + 1))
    print(f"webhooks delivered by the worker: {len(set(item['id'] for item in receiver.received))} events, all signatures valid")
