"""At the bench: a preparation made in mL weighed in grams (worksheet and record read back), its
fill checked in grams and mL; and a pharmacist's beyond-use date, from the verify page to the label."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from formulary.models import StockLot
from fulfillment import rendering
from fulfillment.models import Job, Worksheet
from orders.models import Order, OrderEvent, Preparation
from orders.services import preparation_bud_assign
from portal.errors import ServiceError
from portal.numbers import day_text
from tests.builders import approve, pdf_text, record_body, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
CITATION = "Allen LV. Stability of niacinamide creams. Int J Pharm Compd 2024;28(2):110-6"
REASON = "Stability-indicating HPLC and AET (USP <51>) on this formula in this jar"


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def submit_shampoo(api_as, prescriber, ingredients):
    body = {"patient": {"first_name": "Ada", "last_name": "Quinn", "date_of_birth": "1988-02-03"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "shampoo-base-capb", "quantity": 100, "unit": "mL", "target_ph": 5.0,
                              "directions": "Lather into the scalp, leave 5 minutes, rinse.", "ingredients": ingredients}]}
    response = api_as(prescriber.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    return response.json()


def work(api_as, staff, order):
    approve(staff, order)
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job__public_id=job["id"]).pk)
    return job


def test_a_100_ml_shampoo_worksheet_weighs_grams_to_the_centigram(api_as, rivera, staff, ready, client, technician, password):
    order = submit_shampoo(api_as, rivera, [{"ingredient": "zinc-pyrithione", "percent": 1}, {"ingredient": "phenoxyethanol", "percent": 1}])
    engine = order["preparations"][0]
    assert not [f for f in engine["findings"] if f["code"] == "EXCEEDS_EU_RINSE_OFF_LIMIT"]  # 1 % is the maximum, not above it
    job = work(api_as, staff, order)
    text = pdf_text(staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/").content)

    density = Decimal("1.02")  # the shampoo base's density in the starter formulary
    batch = cents(Decimal(100) * density * Decimal("1.05"))  # volume × density × (1 + overage)
    assert batch == Decimal("107.10")
    expected = {"zinc-pyrithione": cents(batch * Decimal("0.01")), "phenoxyethanol": cents(batch * Decimal("0.01"))}
    expected["shampoo-base-capb"] = batch - sum(expected.values())
    assert "100 mL ≈ 102.0 g dispensed" in text
    assert "Batch 105 mL ≈ 107.10 g" in text
    names = {"zinc-pyrithione": "Zinc", "phenoxyethanol": "Phenoxyethanol", "shampoo-base-capb": "Sulfate"}  # the worksheet names, never codes
    for item, grams in expected.items():
        assert re.search(rf"{re.escape(names[item])}.*?{re.escape(str(grams))}", text, re.DOTALL), (item, grams)
    assert "≈ 0.97 mL" in text  # the phenoxyethanol, 1.07 g at 1.102 g/mL
    assert "Fill weight 102.0–107.1 g (100.0–105.0 mL at 1.02 g/mL)" in text
    assert "Colonial Chemical" in text  # the density's source
    lines = {line["item"]: Decimal(str(line["quantity"])) for line in Job.objects.get(public_id=job["id"]).preparation.checked["batch"]["lines"]}
    assert lines == expected

    page = sign_in(client, technician, password)
    assert "100 mL ≈ 102.0 g dispensed · batch 105 mL ≈ 107.10 g at 1.02 g/mL" in page.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    # the record deducts the base's lot in mL (grams / density), materials in grams
    base_lot = StockLot.objects.get(base__code="shampoo-base-capb", lot_number="SHAMPOO-BA-01")
    before = base_lot.quantity_on_hand
    recorded = staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"], yield_grams="106.2"), format="json")
    assert recorded.status_code == 200, recorded.json()
    base_lot.refresh_from_db()
    assert base_lot.quantity_on_hand == before - (expected["shampoo-base-capb"] / density).quantize(Decimal("0.001"))
    # the fill is weighed: grams against volume × density, the mL shown beside
    short = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.1", "appearance_ok": True, "fill_weight": "100.5"}, format="json")
    assert short.json()["passed"] is False
    assert "Fill weight 100.5 g (≈ 98.5 mL) is outside 102.0–107.1 g (100.0–105.0 mL)." in short.json()["problems"]
    # sent back for rework: the job page says why and and the QC result keeps the fill in grams
    rework = page.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    assert "is outside 102.0–107.1 g (100.0–105.0 mL). Sent back for rework." in rework
    assert "Claim it to compound it again; a new record and QC follow." in rework
    assert "fill 100.5 g" in rework and "fill 100.5 mL" not in rework  # the fill is weighed: grams, never the order's mL


def test_the_fill_of_an_ml_preparation_passes_in_grams(api_as, rivera, staff, ready):
    job = work(api_as, staff, submit_shampoo(api_as, rivera, [{"ingredient": "panthenol", "percent": 1}]))
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    qc = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.1", "appearance_ok": True, "fill_weight": "102.5"}, format="json")
    assert qc.json()["passed"] is True, qc.json()


def test_phenoxyethanol_above_the_rinse_off_maximum_warns_the_pharmacist(api_as, rivera, staff, ready):
    order = submit_shampoo(api_as, rivera, [{"ingredient": "phenoxyethanol", "percent": 1.2}])
    found = [f for f in order["preparations"][0]["findings"] if f["code"] == "EXCEEDS_EU_RINSE_OFF_LIMIT"]
    assert found and found[0]["severity"] == "warning"
    assert found[0]["message"].startswith("Phenoxyethanol at 1.2 % is above the EU maximum of 1 % for rinse-off products.")
    refused = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]},
                                       format="json")
    assert refused.status_code == 400 and "EXCEEDS_EU_RINSE_OFF_LIMIT" in refused.json()["error"]["message"]


# --- A pharmacist's beyond-use date ---------------------------------------------------------

def _page(client, user, password):
    return sign_in(client, user, password)


def test_an_assigned_bud_with_its_citation_reaches_the_worksheet_and_label(api_as, rivera, staff, ready, client, pharmacist, password):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    assert order["preparations"][0]["beyond_use_days"] == 35
    page = _page(client, pharmacist, password)
    detail = f"/pharmacy/verify/{order['id']}/"
    assert "Assign a beyond-use date other than the table's 35 days" in page.get(detail).content.decode()
    response = page.post(f"{detail}beyond-use-date/", {"preparation": "1", "days": "60", "citation": CITATION, "reason": REASON}, follow=True)
    body = response.content.decode()
    assert "Beyond-use period of preparation 1 set to 60 days." in body
    assert "Beyond-use period assigned: 60 days from compounding" in body and "Int J Pharm Compd 2024" in body
    prep = Preparation.objects.get(order__public_id=order["id"])
    assert (prep.assigned_bud_days, prep.bud_citation, prep.bud_reason, prep.bud_assigned_by) == (60, CITATION, REASON, pharmacist)
    assert prep.beyond_use_days == 35  # the table's period stays
    event = OrderEvent.objects.get(order=prep.order, kind="bud_assigned", actor=pharmacist)
    assert event.message.startswith("Beyond-use period of preparation 1 set to 60 days (longer than the table's 35) by Test Pharm per Allen LV.")
    seen = api_as(rivera.user).get(f"/api/v1/orders/{order['id']}/").json()["preparations"][0]
    assert (seen["beyond_use_days"], seen["assigned_beyond_use_days"], seen["beyond_use_citation"]) == (35, 60, CITATION)

    job = work(api_as, staff, order)
    today = timezone.localdate()
    sheet = pdf_text(staff["tech"].get(f"/api/v1/jobs/{job['id']}/worksheet/").content)
    assert (f"Beyond-use date assigned by the pharmacist: compounding date + 60 days ({day_text(today + dt.timedelta(days=60))} "
            "if compounded today) per Allen LV. Stability of niacinamide creams. Int J Pharm Compd") in sheet
    assert f"USP <795> table date: compounding date + 35 days ({day_text(today + dt.timedelta(days=35))})" in sheet
    # The worksheet's other dates as people read them too: the birth date, the record's approval, each lot's expiry.
    assert "born Apr 12, 1991" in sheet and f"on {day_text(today)}" in sheet and "1991-04-12" not in sheet
    assert re.search(r"NIACINAMID-01 \([A-Z][a-z]{2} \d{1,2}, \d{4}\)", sheet)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "5.0", "appearance_ok": True, "fill_weight": "50.4"}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/verify/").status_code == 200
    label = pdf_text(staff["tech"].get(f"/api/v1/jobs/{job['id']}/label/").content)
    assert f"Use by {day_text(today + dt.timedelta(days=60))}" in label
    assert f"Beyond-use date assigned per {CITATION[:40]}" in label
    assert f"table date {day_text(today + dt.timedelta(days=35))}" in label
    job_page = page.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    assert "Beyond-use date assigned by the pharmacist (60 days)" in job_page


def test_an_assigned_bud_longer_than_a_lot_is_refused_and_nothing_is_saved(api_as, rivera, ready, client, pharmacist, password):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    soon = timezone.localdate() + dt.timedelta(days=45)
    StockLot.objects.filter(material__code="niacinamide").update(expires_on=soon)
    page = _page(client, pharmacist, password)
    response = page.post(f"/pharmacy/verify/{order['id']}/beyond-use-date/",
                         {"preparation": "1", "days": "60", "citation": CITATION, "reason": REASON}, follow=True)
    body = response.content.decode()
    assert f"Lot NIACINAMID-01 of Niacinamide expires {day_text(soon)}" in body  # its name and Jul 29, 2027: no code, no ISO
    assert "a beyond-use date is never later than the expiry of a component" in body
    assert CITATION in body and 'value="60"' in body  # what was typed is still there
    prep = Preparation.objects.get(order__public_id=order["id"])
    assert prep.assigned_bud_days is None and prep.bud_citation == ""
    assert not OrderEvent.objects.filter(order=prep.order, kind="bud_assigned").exists()
    # 45 days is within the lot: accepted
    assert preparation_bud_assign(preparation=prep, by=pharmacist, days=45, citation=CITATION, reason=REASON).assigned_bud_days == 45


@pytest.mark.parametrize("fields, words", [
    ({"citation": ""}, "Cite the stability study"),
    ({"reason": "  "}, "Say why this preparation gets a date other than the table"),
    ({"days": "sixty"}, "whole number of days"),
    ({"days": "35"}, "is what the USP <795> table already gives"),
])
def test_bad_assignments_are_refused_with_a_clear_message(api_as, rivera, ready, client, pharmacist, password, fields, words):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    post = {"preparation": "1", "days": "60", "citation": CITATION, "reason": REASON} | fields
    body = _page(client, pharmacist, password).post(f"/pharmacy/verify/{order['id']}/beyond-use-date/", post, follow=True).content.decode()
    assert "The beyond-use date was not saved:" in body and words in body.replace("&lt;", "<").replace("&gt;", ">").replace("&#x27;", "'")
    assert Preparation.objects.get(order__public_id=order["id"]).assigned_bud_days is None


def test_a_technician_cannot_assign_a_bud(api_as, rivera, ready, client, technician, password):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    page = _page(client, technician, password)
    response = page.post(f"/pharmacy/verify/{order['id']}/beyond-use-date/",
                         {"preparation": "1", "days": "60", "citation": CITATION, "reason": REASON})
    assert response.status_code == 403
    prep = Preparation.objects.get(order__public_id=order["id"])
    with pytest.raises(ServiceError, match="Only a pharmacist assigns a beyond-use date") as caught:
        preparation_bud_assign(preparation=prep, by=technician, days=60, citation=CITATION, reason=REASON)
    assert caught.value.status == 403
    prep.refresh_from_db()
    assert prep.assigned_bud_days is None


def test_after_approval_the_date_can_no_longer_change(api_as, rivera, staff, ready, pharmacist):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    approve(staff, order)
    prep = Preparation.objects.get(order__public_id=order["id"])
    with pytest.raises(ServiceError, match="is being verified") as caught:
        preparation_bud_assign(preparation=prep, by=pharmacist, days=60, citation=CITATION, reason=REASON)
    assert caught.value.status == 409
    assert Order.objects.get(public_id=order["id"]).status == "approved"


def test_going_back_to_the_table_date(api_as, rivera, ready, client, pharmacist, password):
    order = submit(api_as, rivera, base="cream-base-pe", ingredients=[{"ingredient": "niacinamide", "percent": 4}])
    prep = Preparation.objects.get(order__public_id=order["id"])
    preparation_bud_assign(preparation=prep, by=pharmacist, days=20, citation=CITATION, reason="Niacinamide hydrolyses at this pH")
    body = _page(client, pharmacist, password).post(f"/pharmacy/verify/{order['id']}/beyond-use-date/",
                                                    {"preparation": "1", "action": "clear"}, follow=True).content.decode()
    assert "dated by the USP &lt;795&gt; table again" in body
    prep.refresh_from_db()
    assert prep.assigned_bud_days is None and prep.bud_citation == "" and prep.bud_assigned_by is None
