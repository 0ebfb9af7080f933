"""Pharmacy pages: the same services as the API, for pharmacy staff only, with markup shown as text."""

import re
import uuid

import pytest

from fulfillment import rendering
from fulfillment.models import Job, Worksheet
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import approve_mfrs, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def order(api_as, rivera, technician, formulary):
    _demo_pharmacy()
    _demo_stock(technician)
    body = {"patient": {"first_name": EVIL, "last_name": "Lopez", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply twice daily.", "ingredients": [{"ingredient": "ceramide-np", "percent": 1}]}]}
    return api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()


def login(client, user, password):
    sign_in(client, user, password)
    return client


def test_pharmacist_verifies_on_the_page(client, pharmacist, password, order, api_as, rivera):
    c = login(client, pharmacist, password)
    queue = c.get("/pharmacy/verify/").content.decode()
    assert order["number"] in queue and EVIL not in queue and "&lt;img src=x onerror=alert(1)&gt;" in queue
    # Each warning is its title and its sentence; the rule's code stays in the markup, never in the words read
    # (it ended the sentence with "AW_NOT_MEASURED": walk-through wk #9).
    cream = submit(api_as, rivera)  # water-containing, water activity not measured: a warning
    detail = c.get(f"/pharmacy/verify/{cream['id']}/").content.decode()
    assert '<li data-code="AW_NOT_MEASURED"><strong>Dated as water-containing</strong>' in detail
    assert "AW_NOT_MEASURED" not in re.sub(r'"[^"]*"', '""', detail)
    # Refills in words, as the review page writes them: "no refills", not "refills 0"; with refills, how often.
    assert " · no refills</p>" in detail and "refills 0" not in detail
    with_refills = c.get(f"/pharmacy/verify/{submit(api_as, rivera, refills=2, refill_interval_days=30)['id']}/").content.decode()
    assert " · refills 2, every 30 days</p>" in with_refills
    approve_mfrs(api_as(pharmacist), order)
    c.post(f"/pharmacy/verify/{order['id']}/approve/")
    assert Job.objects.filter(preparation__order__public_id=order["id"], status="queued").exists()


def test_technician_claims_records_and_sees_the_worksheet(client, technician, password, order, pharmacist, api_as):
    approve_mfrs(api_as(pharmacist), order)
    api_as(pharmacist).post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    c = login(client, technician, password)
    board = c.get("/pharmacy/queue/").content.decode()
    assert re.search(r'data-count="queued">Queued: 1<', board)
    response = c.post("/pharmacy/queue/claim-next/")
    job = Job.objects.get(preparation__order__public_id=order["id"])
    assert response["Location"] == f"/pharmacy/jobs/{job.public_id}/" and job.status == "compounding"
    status = c.get(f"/pharmacy/jobs/{job.public_id}/worksheet-status/").content.decode()
    assert 'hx-trigger="every 2s"' in status  # keeps polling while queued
    rendering.worksheet_render(worksheet_id=Worksheet.objects.get(job=job).pk)
    status = c.get(f"/pharmacy/jobs/{job.public_id}/worksheet-status/").content.decode()
    assert "is ready" in status and "every 2s" not in status
    pdf = c.get(f"/pharmacy/jobs/{job.public_id}/worksheet-v1.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf["Cache-Control"] == "no-store"
    page = c.get(f"/pharmacy/jobs/{job.public_id}/").content.decode()
    assert "Compounding record" in page and EVIL not in page
    c.post(f"/pharmacy/jobs/{job.public_id}/record/", {"lot-ceramide-np": "CERAMIDE-N-01", "grams-ceramide-np": "0.32",
                                                       "lot-ointment-base": "OINTMENT-B-01", "grams-ointment-base": "31.18",
                                                       "actual_yield_grams": "31.3"})
    job.refresh_from_db()
    assert job.status == "qc"
    c.post(f"/pharmacy/jobs/{job.public_id}/qc/", {"appearance_ok": "yes", "fill_weight": "30.4"})
    assert c.get(f"/pharmacy/jobs/{job.public_id}/label.pdf")["Content-Type"] == "application/pdf"
    c.post(f"/pharmacy/jobs/{job.public_id}/verify/")  # a technician cannot release
    job.refresh_from_db()
    assert job.status == "qc"


def test_prescriber_cannot_open_pharmacy_pages_or_pdfs(client, rivera, password, order, pharmacist, api_as):
    approve_mfrs(api_as(pharmacist), order)
    api_as(pharmacist).post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    job = Job.objects.get(preparation__order__public_id=order["id"])
    c = login(client, rivera.user, password)
    for url in ("/pharmacy/verify/", "/pharmacy/queue/", f"/pharmacy/jobs/{job.public_id}/", f"/pharmacy/jobs/{job.public_id}/worksheet-v1.pdf",
                f"/pharmacy/jobs/{job.public_id}/label.pdf"):
        assert c.get(url).status_code == 403, url


def visible(html: str) -> str:
    html = re.sub(r"<(script|style|datalist|select)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pharmacy_pages_show_dates_as_the_rest_of_the_portal(client, technician, password, order, pharmacist, api_as):
    """Walk #4: the verify, job and MFR pages printed "2026-12-01 10:38" beside History's "Dec 1, 2026 10:38"."""
    approve_mfrs(api_as(pharmacist), order)
    c = login(client, pharmacist, password)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    pages = [f"/pharmacy/verify/{order['id']}/", f"/pharmacy/mfrs/{mfr_id}/", "/pharmacy/mfrs/"]
    api_as(pharmacist).post(f"/api/v1/orders/{order['id']}/approve/", {}, format="json")
    job = Job.objects.get(preparation__order__public_id=order["id"])
    api_as(pharmacist).post(f"/api/v1/jobs/{job.public_id}/claim/")
    c.post(f"/pharmacy/jobs/{job.public_id}/record/", {"lot-ceramide-np": "CERAMIDE-N-01", "grams-ceramide-np": "0.32",
                                                       "lot-ointment-base": "OINTMENT-B-01", "grams-ointment-base": "31.18",
                                                       "actual_yield_grams": "31.3"})
    pages.append(f"/pharmacy/jobs/{job.public_id}/")
    for url in pages:
        text = visible(c.get(url).content.decode())
        assert re.search(r"\b20\d\d-\d\d-\d\d\b(?!\.r)", text) is None, (url, re.findall(r".{60}\b20\d\d-\d\d-\d\d\b.{20}", text))
        assert re.search(r"\b[A-Z][a-z]{2} \d{1,2}, 20\d\d\b", text), url  # "Apr 12, 1991", "Dec 1, 2026 10:38"
    # Walk #5: no repository path or material slug on the master formulation record.
    record = visible(c.get(f"/pharmacy/mfrs/{mfr_id}/").content.decode())
    assert "docs/rules.md" not in record and "ointment-base" not in record and "ceramide-np" not in record
    assert "Ceramide NP" in record
    for url in pages:  # nor on any of the pharmacy's pages people read
        text = visible(c.get(url).content.decode())
        assert "ceramide-np" not in text and "ointment-base" not in text, (url, re.findall(r".{40}(?:ceramide-np|ointment-base).{20}", text))
