"""The compounding record of a job (USP <795> 7.3) through the API: every field with the values actually recorded, the
MFR id and version it followed, the pharmacist's completeness review before release (refused naming what is missing,
nothing changed), the PDF frozen at release whose SHA-256 is stored and served, and every later change refused (409)."""

from __future__ import annotations

import datetime as dt

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from formulary.models import StockLot
from fulfillment import records, services
from fulfillment.models import CompoundingRecord, Job
from orders.models import Preparation
from portal.errors import ServiceError
from portal.numbers import percent_text
from tests.builders import claimed_job, pdf_text, record_body, released_job
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def _render(job_id):
    record = CompoundingRecord.objects.get(job__public_id=job_id)
    return records.record_pdf_render(record_id=record.pk)  # what the worker's task runs (tests/integration has the real worker)


def test_a_released_record_holds_every_field_and_its_frozen_pdf_matches_its_hash(api_as, rivera, staff, ready, pharmacist, technician):
    StockLot.objects.filter(material__code="niacinamide").update(manufacturer="DSM Nutritional Products")
    order, job = released_job(api_as, rivera, staff, quantity=50)
    prep = Preparation.objects.get(order__public_id=order["id"])
    cr = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").json()
    assert cr["status"] == "released" and cr["job"] == Job.objects.get(public_id=job["id"]).number and cr["fill"] == 0
    assert cr["mfr"]["id"] == str(prep.mfr.public_id) and cr["mfr"]["code"] == prep.mfr.code and cr["mfr"]["version"] == 1
    niacinamide = next(c for c in cr["components"] if c["code"] == "niacinamide")
    line = CompoundingRecord.objects.get(job__public_id=job["id"]).lines.get(item_code="niacinamide")
    assert niacinamide["manufacturer"] == "DSM Nutritional Products" and niacinamide["vendor"] == line.lot.supplier
    assert niacinamide["lot"] == line.lot_number and niacinamide["expires_on"] == line.lot_expires_on.isoformat()
    assert niacinamide["actual_g"] == f"{line.actual_grams.normalize():f}" and niacinamide["weighed_by"] == technician.get_full_name()
    assert niacinamide["weighed_at"]
    assert cr["yield"]["percent"] == "100.00" and cr["calculations"]["overage_percent"] == "5.0" and cr["calculations"]["lines"]
    results = {q["test"]: q for q in cr["qc"]}
    assert results["pH"]["result"] == "5" and results["pH"]["expected"].startswith("4.50–5.50")
    assert results["Fill weight"]["result"] == "50 g" and results["Yield"]["expected"].startswith("95–105 %")
    assert cr["physical_description"].startswith("As specified: Smooth, uniform")
    assert cr["beyond_use_date"] and cr["storage"] == "Store at 20–25 °C or in a refrigerator" and cr["deviations"] == []
    assert cr["reviewed_by"] == pharmacist.get_full_name() and cr["reviewed_at"]
    steps = [s["step"] for s in cr["steps"]]
    assert steps[0] == "Claimed; worksheet printed" and steps[-1] == "Completeness review and release by the pharmacist"
    assert all(s["by"] and s["at"] for s in cr["steps"])
    assert cr["pdf_sha256"] is None and cr["pdf_ready"] is False
    waiting = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/?format=pdf")
    assert waiting.status_code == 202

    record = _render(job["id"])
    answer = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/?format=pdf")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer["X-Content-SHA256"] == record.pdf_sha256 == hashlib.sha256(answer.content).hexdigest()
    text = pdf_text(answer.content)
    def day(iso: str) -> str:  # the PDF writes dates as people do: "Jan 5, 2027"
        d = dt.date.fromisoformat(iso)
        return f"{d:%b} {d.day}, {d.year}"

    for value in (f"{prep.mfr.code} version 1", "DSM Nutritional Products", line.lot_number, day(line.lot_expires_on.isoformat()),
                  niacinamide["actual_g"], "Physical description observed: As specified", day(cr["beyond_use_date"]),
                  "Store at 20–25 °C or in a refrigerator", "Completeness review and release", pharmacist.get_full_name()):
        assert value in text, value
    # Every field USP <795> 7.3 asks of the record, each with the value recorded, in the PDF the pharmacy keeps.
    words = re.sub(r"/\s+", "/", " ".join(text.replace("\xa0", " ").split()))  # a long name wraps after its slash in a cell

    def said(*parts: str) -> None:
        value = " ".join(" ".join(str(p).replace("\xa0", " ").split()) for p in parts)
        assert value in words, value

    said(f"Job {cr['job']} ({cr['fill_text']}) · order {cr['order']}")  # the assigned prescription and fill number
    said("Compounded", day(cr["compounded_on"]))  # the date compounded
    said("Preparation", cr["preparation"], "·", cr["quantity"])  # name, strength, dosage form and quantity
    said("Patient", cr["patient"], "Prescriber", cr["prescriber"])
    said("Master formulation record", f"{cr['mfr']['code']} version {cr['mfr']['version']}, approved by",
         cr["mfr"]["approved_by"], "on", cr["mfr"]["approved_at"])  # the MFR followed
    for c in cr["components"]:  # each component: source, lot, expiry, amounts, who weighed it and when
        said(c["what"])
        said(*([f"{c['manufacturer']} (manufacturer)"] if c["manufacturer"] else []), f"{c['vendor']} (vendor)", c["lot"],
             day(c["expires_on"]), c["planned_g"], c["actual_g"], c["weighed_by"], c["weighed_at"])
    y = cr["yield"]
    said(f"Yield: {y['actual_g']} g of {y['theoretical_g']} g theoretical = {percent_text(y['percent'])}")  # the actual yield, as people write it (100 %)
    calc = cr["calculations"]  # the calculations as done
    said(f"Dispensed {calc['dispensed']}; overage {calc['overage_percent']} %; batch {calc['batch']}; minimum weighable "
         f"quantity {calc['minimum_weighable_g']} g.")
    for row in calc["lines"]:
        said(row["what"], f"{row['share_percent']:.1f}", row["planned_g"])
    for q in cr["qc"]:  # quality control: each test, what the MFR expects and the result
        said(q["test"], q["expected"], q["result"])
    said("Physical description observed:", cr["physical_description"])
    said("Beyond-use date", day(cr["beyond_use_date"]), f"({cr['beyond_use_basis']}) ·", cr["storage"])  # BUD and storage
    said("Deviations None.")  # deviations (none in this batch; tests/fulfillment/test_rework_record.py names one)
    for step in cr["steps"]:  # who did each step and when
        said(step["step"], step["by"], step["at"])
    said(f"Completeness review and release: {cr['reviewed_by']}, pharmacist, {cr['reviewed_at']}.")  # who verified it
    # Read back with pdftotext as well: the words an inspector's tools see.
    plain = subprocess.run(["pdftotext", "-layout", "-", "-"], input=answer.content, capture_output=True, check=True).stdout.decode()
    assert "Compounding record" in plain and line.lot_number in plain

    # Frozen: every attempt to change it answers 409 and changes nothing; a second render keeps the first hash.
    before = (record.frozen, record.pdf_sha256, record.pdf.name)
    for attempt in (staff["pharmacist"].patch(f"/api/v1/jobs/{job['id']}/compounding-record/", {"deviations": []}, format="json"),
                    staff["pharmacist"].delete(f"/api/v1/jobs/{job['id']}/compounding-record/"),
                    staff["tech"].post(f"/api/v1/jobs/{job['id']}/compounding-record/deviations/", {"what": "x", "reason": "y"}, format="json")):
        assert attempt.status_code == 409 and attempt.json()["error"]["code"] == "record_frozen", attempt.json()
    again = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    assert again.status_code == 409
    record = _render(job["id"])
    assert (record.frozen, record.pdf_sha256, record.pdf.name) == before


def test_the_worksheet_prints_the_mfr_id_and_version_and_follows_its_steps(api_as, rivera, staff, ready):
    from fulfillment.models import Worksheet

    order, job = claimed_job(api_as, rivera, staff)
    mfr = Preparation.objects.get(order__public_id=order["id"]).mfr
    worksheet = Worksheet.objects.get(job__public_id=job["id"])
    with worksheet.pdf.open("rb") as handle:
        pdf = handle.read()
    text = pdf_text(pdf)
    screens = Path(__file__).resolve().parents[2] / "var" / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    (screens / "worksheet-with-mfr.pdf").write_bytes(pdf)  # looked at with pdftoppm
    assert f"Follows master formulation record {mfr.code} version 1" in text
    assert mfr.steps[2] in text  # the order of addition, as the MFR states it
    from fulfillment import documents

    plan = documents.record_plan(Job.objects.get(public_id=job["id"]))
    assert [row["item"] for row in plan] == [c["code"] for c in mfr.components]  # and the record weighs in that order


def test_release_of_an_incomplete_record_is_refused_naming_what_is_missing(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff, quantity=50)
    body = record_body(job["id"])
    body["actual_yield_grams"] = "47.0"  # 89.5 % of the 52.5 g batch: outside 95–105 %, a deviation needs its reason
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", body, format="json").status_code == 200
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50},
                              format="json").json()["passed"] is True
    refused = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/")
    error = refused.json()["error"]
    assert refused.status_code == 409 and error["code"] == "record_incomplete"
    assert "the reason for the yield of 89.52 % (outside 95–105 %)" in error["message"]
    assert Job.objects.get(public_id=job["id"]).status == "qc"
    assert CompoundingRecord.objects.get(job__public_id=job["id"]).frozen is None
    open_record = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").json()
    assert open_record["status"] == "open" and any("reason for the yield" in m for m in open_record["missing"])

    blank = staff["tech"].post(f"/api/v1/jobs/{job['id']}/compounding-record/deviations/", {"what": "", "reason": ""}, format="json")
    assert blank.status_code == 400 and set(blank.json()["error"]["fields"]) == {"what", "reason"}
    added = staff["tech"].post(f"/api/v1/jobs/{job['id']}/compounding-record/deviations/",
                               {"what": "Yield 89.5 %", "reason": "Cream left on the mortar walls; fill checked at 50 g"}, format="json")
    assert added.status_code == 201 and added.json()["missing"] == []
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    frozen = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").json()
    assert frozen["deviations"][0]["reason"] == "Cream left on the mortar walls; fill checked at 50 g"
    assert frozen["deviations"][0]["by"] and frozen["yield"]["flagged"] is True


def test_a_job_without_an_approved_mfr_cannot_be_released(client, api_as, rivera, staff, ready, pharmacist, password):
    order, job = claimed_job(api_as, rivera, staff)
    Preparation.objects.filter(order__public_id=order["id"]).update(mfr=None)  # a job approved before records were kept
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": 50}, format="json")
    refused = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/")
    assert refused.status_code == 409 and "an approved master formulation record for this formulation" in refused.json()["error"]["message"]
    assert Job.objects.get(public_id=job["id"]).status == "qc"
    # The job page says so and offers to link it; its formulation's approved record is found, and the job is released.
    sign_in(client, pharmacist, password)
    page = client.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    assert 'data-testid="job-no-mfr"' in page and "Propose its record" in page
    client.post(f"/pharmacy/verify/{order['id']}/master-formula/", {"preparation": "1", "action": "propose"})
    assert Preparation.objects.get(order__public_id=order["id"]).mfr.status == "approved"
    assert 'data-testid="job-mfr"' in client.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    # It was compounded before: the release wants that said as a deviation, then links the record to the approved version.
    mfr = Preparation.objects.get(order__public_id=order["id"]).mfr
    refused = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").json()["error"]["message"]
    assert f"a deviation saying why it was compounded before {mfr.code} v1 was approved" in refused
    staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/compounding-record/deviations/",
                             {"what": f"Compounded before {mfr.code} v1 was linked", "reason": "Order approved before MFRs were kept"},
                             format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    frozen = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").json()
    assert frozen["mfr"]["code"] == mfr.code and frozen["mfr"]["version"] == 1


def test_the_description_observed_is_kept_with_each_check(api_as, rivera, staff, ready):
    from fulfillment.models import QCResult

    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    failed = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": 5.0, "appearance_ok": False, "fill_weight": 50,
                                                                  "description": "Beige, grainy, oil separating at the rim"}, format="json")
    assert failed.json()["passed"] is False
    assert QCResult.objects.get(job__public_id=job["id"]).description == "Beige, grainy, oil separating at the rim"


def test_the_record_before_release_is_open_and_its_pdf_is_not_served(api_as, rivera, staff, ready):
    order, job = claimed_job(api_as, rivera, staff)
    assert staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/").status_code == 404
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    answer = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/?format=pdf")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "record_not_released"
    assert api_as(rivera.user).get(f"/api/v1/jobs/{job['id']}/compounding-record/").status_code == 403


def test_an_over_long_deviation_is_refused_never_cut(client, api_as, rivera, staff, ready, pharmacist, password):
    """A deviation is part of the legal record: text past the limit is refused with the count, never stored cut short."""
    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    record = CompoundingRecord.objects.get(job__public_id=job["id"])
    with pytest.raises(ServiceError) as refused:
        records.deviation_add(job=record.job, by=pharmacist, what="w" * 1001, reason="r" * 2001)
    assert refused.value.fields == {"what": ["At most 1000 characters (this has 1001)."],
                                    "reason": ["At most 2000 characters (this has 2001)."]}
    # The page's form (its maxlength bypassed): refused in words, nothing recorded.
    sign_in(client, pharmacist, password)
    page = client.post(f"/pharmacy/jobs/{job['id']}/compounding-record/deviations/", {"what": "Yield low", "reason": "x" * 2500},
                       follow=True).content.decode()
    assert "At most 2000 characters (this has 2500)." in page
    api = staff["tech"].post(f"/api/v1/jobs/{job['id']}/compounding-record/deviations/", {"what": "w" * 1001, "reason": "why"}, format="json")
    assert api.status_code == 400 and "what" in api.json()["error"]["fields"]
    record.refresh_from_db()
    assert record.deviations == []
    added = records.deviation_add(job=record.job, by=pharmacist, what="w" * 1000, reason="r" * 2000)
    assert added.deviations[0]["what"] == "w" * 1000 and added.deviations[0]["reason"] == "r" * 2000


def test_an_over_long_physical_description_is_refused_never_cut(client, api_as, rivera, staff, ready, technician, password):
    from fulfillment.models import QCResult

    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    seen = "Smooth white cream, " + "y" * 2000
    sign_in(client, technician, password)
    page = client.post(f"/pharmacy/jobs/{job['id']}/qc/", {"ph": "5.0", "appearance_ok": "yes", "fill_weight": "50",
                                                           "description": seen}).content.decode()
    assert f"At most 2000 characters (this has {len(seen)})." in page and seen in page  # beside the field, kept as typed
    assert not QCResult.objects.filter(job__public_id=job["id"]).exists()
    with pytest.raises(ServiceError) as refused:
        services.job_qc(job=Job.objects.get(public_id=job["id"]), by=technician, ph="5.0", appearance_ok=True, fill_weight="50",
                        description=seen)
    assert refused.value.fields == {"description": [f"At most 2000 characters (this has {len(seen)})."]}
    assert not QCResult.objects.filter(job__public_id=job["id"]).exists()


def test_a_stored_pdf_gone_from_the_storage_is_said_in_words(api_as, rivera, staff, ready):
    """The row says a PDF was rendered but its file is gone (a lost volume, a restore without media): the download says
    so in words and logs it for the pharmacy, for the frozen record and for a worksheet alike (it was a bare 500)."""
    from fulfillment.models import Worksheet

    _order, job = released_job(api_as, rivera, staff)
    record = _render(job["id"])
    worksheet = Worksheet.objects.filter(job__public_id=job["id"]).order_by("-version").first()
    for stored in (record.pdf, worksheet.pdf):
        stored.storage.delete(stored.name)
    gone = staff["pharmacist"].get(f"/api/v1/jobs/{job['id']}/compounding-record/?format=pdf")
    number = Job.objects.get(public_id=job["id"]).number
    assert gone.status_code == 500
    assert gone.json()["error"]["message"] == f"The stored PDF of the compounding record of {number} is missing; the pharmacy has been told."
    sheet = staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/")
    assert sheet.status_code == 500 and "The stored PDF of worksheet version" in sheet.json()["error"]["message"]
