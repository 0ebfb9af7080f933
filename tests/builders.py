"""Builders the tests share: an order submitted through the API, an approved order, a claimed job
with its worksheet rendered, a compounding record's body, a job released by the pharmacist; a PDF's
words; and a webhook receiver on loopback. Each goes through the public API, as a user would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connection
from pypdf import PdfReader

from fulfillment import documents, rendering
from fulfillment.models import Job, Worksheet


def pdf_text(pdf: bytes) -> str:
    """The PDF's words, with line breaks folded (a long line wraps anywhere)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def submit(api_as, prescriber, *, first="Maya", last="Lopez", ingredients=None, base="cream-base-pf", quantity=50, target_ph=5.0,
           refills=None, refill_interval_days=None):
    body = {"patient": {"first_name": first, "last_name": last, "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": base, "quantity": quantity, "unit": "g", "target_ph": target_ph, "directions": "Apply nightly.",
                              "ingredients": ingredients if ingredients is not None else [{"ingredient": "pe9010", "percent": 1},
                                                                                       {"ingredient": "niacinamide", "percent": 4}]}]}
    if refills is not None:
        body["preparations"][0]["refills"] = refills
    if refill_interval_days is not None:
        body["preparations"][0]["refill_interval_days"] = refill_interval_days
    response = api_as(prescriber.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    return response.json()


def approve_mfrs(pharmacist_client, order):
    """What the pharmacist does first at verification: approve each preparation's proposed master formulation
    record (USP <795> 7.2) that is still a draft."""
    for prep in order["preparations"]:
        if not prep.get("mfr"):
            continue
        mfr = pharmacist_client.get(f"/api/v1/mfrs/{prep['mfr']['id']}/").json()
        if mfr["status"] == "draft":
            response = pharmacist_client.post(f"/api/v1/mfrs/{mfr['id']}/approve/")
            assert response.status_code == 200, response.json()


def approve(staff, order):
    approve_mfrs(staff["pharmacist"], order)
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
    """Every weighing of the record at exactly its worksheet weight, with the first lot to use; materials
    first and the base last (the API takes the lines in any order)."""
    job = Job.objects.get(public_id=job_id)
    batch = documents.batch_lines(job)
    plan = documents.record_plan(job, batch)
    plan = [row for row in plan if row["lot_kind"] == "material" or row["step"] != "weigh"] + \
        [row for row in plan if row["lot_kind"] == "base" and row["step"] == "weigh"]
    lots = [{"item": row["item"], "step": row["step"], "lot_number": row["lots"][0]["lot_number"] if row["takes_lot"] else "",
             "actual_grams": str(row["planned"])} for row in plan]
    for item, change in overrides.items():
        for line in lots:
            if line["item"] == item:
                line.update(change)
    return {"lots": lots, "actual_yield_grams": yield_grams if yield_grams is not None else batch["quantity"]}


def released_job(api_as, rivera, staff, **kw):
    order, job = claimed_job(api_as, rivera, staff, **kw)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    ph = kw.get("target_ph", 5.0)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": ph, "appearance_ok": True, "fill_weight": kw.get("quantity", 50)}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    return order, job


class Receiver:
    """A webhook receiver on loopback that verifies every signature and can fail on purpose."""

    def __init__(self, secret_holder, fail_first=0, answer=200):
        self.received, self.verified, self.fail_first, self.answer = [], [], fail_first, answer
        self.secret_holder = secret_holder
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                msg_id, ts, sig = self.headers["webhook-id"], self.headers["webhook-timestamp"], self.headers["webhook-signature"]
                key = base64.b64decode(receiver.secret_holder["secret"].removeprefix("whsec_"))
                expected = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
                receiver.verified.append(hmac.compare_digest(expected, sig))
                receiver.received.append({"id": msg_id, "attempt": int(self.headers["webhook-attempt"]), "body": json.loads(body),
                                          "content_type": self.headers["content-type"]})
                if receiver.fail_first > 0 and msg_id == receiver.received[0]["id"]:  # the first event fails three times
                    receiver.fail_first -= 1
                    self.send_response(500)
                else:
                    self.send_response(receiver.answer)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def at_once(*calls) -> tuple[list, list]:
    """Run each call in its own thread, released together; (their answers, the tracebacks of any that raised)."""
    barrier = threading.Barrier(len(calls))
    answers, errors = [], []

    def run(call):
        try:
            barrier.wait()
            answers.append(call())
        except Exception:  # collected and asserted by the caller
            errors.append(traceback.format_exc())
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, errors
