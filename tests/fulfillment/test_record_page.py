"""The compounding record page: bad weights, lots and yields are refused beside their field with everything typed
kept; aliquot weighings get their own lines; the worksheet and the record agree on the order of addition."""

from __future__ import annotations

import html
import os
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from formulary.models import StockLot
from fulfillment import documents, rendering
from fulfillment.models import Job, RecordLine, Worksheet
from tests.builders import approve, pdf_text
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db

BODY = {
    "patient": {"first_name": "Iris", "last_name": "Moreau", "date_of_birth": "1987-06-15", "allergies": ["TREE_NUTS"]},
    "ship_to": {"line1": "48 Vine St", "city": "Oakland", "state": "CA", "postal_code": "94607"},
    "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply a thin layer at night.",
                      "exclusions": {"allergen_groups": ["FRAGRANCE"], "preservative_free": False},
                      "ingredients": [{"ingredient": "bifida-ferment-lysate", "percent": 2},
                                      {"ingredient": "niacinamide", "percent": 4},
                                      {"ingredient": "sodium-hyaluronate", "percent": 0.1},
                                      {"ingredient": "pe9010", "percent": 1}]}],
}


@pytest.fixture
def job(api_as, rivera, staff, ready):
    response = api_as(rivera.user).post("/api/v1/orders/", BODY, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    approve(staff, response.json())
    claimed = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    return Job.objects.get(public_id=claimed["id"])


def good_post(plan) -> dict:
    post = {"actual_yield_grams": "52.4"}
    for row in plan:
        if row["takes_lot"]:
            post[f"lot-{row['key']}"] = row["lots"][0]["lot_number"]
        post[f"grams-{row['key']}"] = f"{row['planned']:f}"
    return post


def row_html(page: str, key: str) -> str:
    match = re.search(rf'<tr class="([^"]*)" data-testid="record-row" data-key="{re.escape(key)}">(.*?)</tr>', page, re.DOTALL)
    assert match, key
    return match.group(1) + match.group(2)


@pytest.mark.parametrize("change, key, field, words", [
    ({"grams-niacinamide": "5,1"}, "niacinamide", "grams", "Write 5.1 with a point, not a comma."),
    ({"grams-niacinamide": "-2.1"}, "niacinamide", "grams", "cannot be negative"),
    ({"lot-niacinamide": "PANTHENOL-01"}, "niacinamide", "lot", "Lot PANTHENOL-01 is of Panthenol"),
    ({"actual_yield_grams": "0"}, None, "yield", "The yield of 0 g cannot be recorded"),
])
def test_bad_input_is_refused_beside_its_field_and_everything_is_kept(client, technician, password, job, change, key, field, words):
    sign_in(client, technician, password)
    plan = documents.record_plan(job)
    post = good_post(plan) | change
    response = client.post(f"/pharmacy/jobs/{job.public_id}/record/", post)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The record was not saved" in page
    if key is not None:
        row = row_html(page, key)
        assert row.startswith("refused") and words in html.unescape(row)
    else:
        yield_part = page[page.index('id="actual_yield_grams"'):]
        assert words in html.unescape(yield_part[:600])
    for name, value in post.items():  # every typed value comes back
        assert f'name="{name}"' in page and f'value="{html.escape(value)}"' in page, name
    job.refresh_from_db()
    assert job.status == "compounding" and not RecordLine.objects.filter(record__job=job).exists()


def test_aliquot_weighings_are_record_lines_and_stock_follows_them(client, technician, password, job):
    sign_in(client, technician, password)
    plan = documents.record_plan(job)
    base = plan[0]
    assert base["step"] == "weigh" and base["lot_kind"] == "base"
    batch = documents.batch_lines(job)
    remainder = Decimal(str(next(line["quantity"] for line in batch["lines"] if line["kind"] == "base")))
    assert base["planned"] == remainder - (Decimal("0.12") - Decimal("0.05"))  # less what the aliquot portion brings
    assert "0.07 g less for the aliquot" in base["what"]
    aliquot = {row["step"]: row for row in plan if row["item"] == "sodium-hyaluronate"}
    assert (aliquot["aliquot_material"]["planned"], aliquot["aliquot_base"]["planned"], aliquot["aliquot_portion"]["planned"]) == \
        (Decimal("0.50"), Decimal("1.20"), Decimal("0.12"))
    hyaluronate = StockLot.objects.get(lot_number=aliquot["aliquot_material"]["lots"][0]["lot_number"], material__code="sodium-hyaluronate")
    base_lot = StockLot.objects.get(lot_number=base["lots"][0]["lot_number"], base__code="cream-base-pf")
    before = (hyaluronate.quantity_on_hand, base_lot.quantity_on_hand)
    post = good_post(plan)
    response = client.post(f"/pharmacy/jobs/{job.public_id}/record/", post)
    assert response.status_code == 302
    lines = list(RecordLine.objects.filter(record__job=job))
    assert [line.step for line in lines if line.item_name == "Sodium hyaluronate"] == ["aliquot_material", "aliquot_portion"]
    assert [line.description for line in lines if line.step == "aliquot_base"] == [aliquot["aliquot_base"]["what"]]
    hyaluronate.refresh_from_db()
    base_lot.refresh_from_db()
    assert hyaluronate.quantity_on_hand == before[0] - Decimal("0.50")  # the whole aliquot weighing, not 0.05
    assert base_lot.quantity_on_hand == before[1] - base["planned"] - (Decimal("1.20") - Decimal("0.50"))
    page = client.get(f"/pharmacy/jobs/{job.public_id}/").content.decode()
    assert "Sodium hyaluronate aliquot: 0.12 g of the mixture into the batch" in page and "sodium-hyaluronate" not in page


def test_the_worksheet_lists_the_weighings_in_the_order_of_addition(job):
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job=job).pk)
    pdf = Worksheet.objects.get(job=job).pdf.read()
    text = pdf_text(pdf)
    if os.environ.get("I15_SHOTS"):
        Path(os.environ["I15_SHOTS"], "worksheet.pdf").write_bytes(pdf)  # to look at it
    table = text[text.index("# Weighing"):]
    order = [table.index(words) for words in ("(the rest, 0.07 g less for the aliquot)", "Niacinamide",
                                             "Sodium hyaluronate: aliquot", "Bifida Ferment Lysate")]
    assert order == sorted(order), text
    for words in ("Allergies Tree nuts", "Free of: Fragrance and essential oils · Do not substitute", "Topical (skin)",
                  "original fill", "Equipment", "70 % isopropyl alcohol"):
        assert words in text, words
    assert "fill 0" not in text and "Rules rules" not in text


def test_the_label_carries_the_pharmacy_address_the_free_of_line_and_the_rx_barcode(api_as, staff, job):
    from tests.builders import record_body

    staff["tech"].post(f"/api/v1/jobs/{job.public_id}/record/", record_body(job.public_id), format="json")
    pdf = staff["tech"].get(f"/api/v1/jobs/{job.public_id}/label/").content
    if os.environ.get("I15_SHOTS"):
        Path(os.environ["I15_SHOTS"], "label.pdf").write_bytes(pdf)  # to look at it
    import io

    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1  # one label, not two
    text = pdf_text(pdf)
    for words in ("400 Harbor Blvd, Tampa, FL 33602", "Free of: Fragrance and essential oils · Do not substitute", f"Rx {job.number}",
                  "Route: Topical (skin)", "original fill", "Niacinamide 4 %"):
        assert words in text, words
    assert "Allergies: Tree nuts" in text  # the patient's allergy list, on the jar
    job.refresh_from_db()
    bars = documents.label_context(job)["bars"]
    assert bars == documents.barcode_bars(job.number) and sum(run["width"] for run in bars) > 50  # Code 128 of the Rx number


def test_the_label_lists_every_allergy_on_one_label_and_reads_back_with_pdftotext(api_as, rivera, staff, ready, tmp_path):
    """A patient with five allergies: every one is printed, in words, and the label stays one 4 × 2.5 in page. Read back
    with pypdf and with poppler's pdftotext (what a pharmacy's own tools would see); the PNG is kept to look at."""
    import io
    import shutil
    import subprocess

    from pypdf import PdfReader

    from tests.builders import record_body

    body = {**BODY, "patient": {**BODY["patient"], "last_name": "Okafor",
                                "allergies": ["TREE_NUTS", "LANOLIN", "PROPYLENE_GLYCOL", "COCAMIDOPROPYL_BETAINE", "BALSAM_OF_PERU"]}}
    response = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.json()
    approve(staff, response.json())
    job_id = staff["tech"].post("/api/v1/jobs/claim-next/").json()["id"]
    assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
    pdf = staff["tech"].get(f"/api/v1/jobs/{job_id}/label/").content
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    width, height = (float(v) / 72 for v in reader.pages[0].mediabox.upper_right)
    assert (round(width, 2), round(height, 2)) == (4.0, 2.5)
    names = ["Balsam of Peru", "Cocamidopropyl betaine", "Lanolin / wool alcohols", "Propylene glycol", "Tree nuts"]
    line = re.search(r"Allergies: (.*?) Free of:", pdf_text(pdf))  # the allergy line is followed by the free-of box
    assert line and sorted(line.group(1).split(", ")) == names, pdf_text(pdf)
    allergies = f"Allergies: {line.group(1)}"
    path = tmp_path / "label.pdf"
    path.write_bytes(pdf)
    if shutil.which("pdftotext"):
        poppler = " ".join(subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout.split())
        assert allergies in poppler and "Free of: Fragrance and essential oils" in poppler
    artefacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    if shutil.which("pdftoppm"):
        artefacts.mkdir(exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(path), str(artefacts / "label-allergies")], check=True)
        assert (artefacts / "label-allergies.png").stat().st_size > 5000
