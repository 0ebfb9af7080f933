"""In Chromium: a patient named like markup is shown as text to the pharmacist, and no script runs."""

import uuid

import pytest
from playwright.sync_api import expect
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EVIL = "<img src=x onerror=alert(1)>"


def test_markup_in_a_patient_name_never_runs(page, live_server, api_as, rivera, pharmacist, technician, password, formulary):
    from portal.demo import _demo_pharmacy, _demo_stock

    _demo_pharmacy()
    _demo_stock(technician)
    body = {"patient": {"first_name": EVIL, "last_name": "<script>alert(2)</script>", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "ointment-base", "quantity": 30, "unit": "g", "directions": "Apply twice daily."}]}
    order = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response_headers = {}
    page.on("response", lambda r: response_headers.update(r.headers) if r.url.endswith("/pharmacy/verify/") else None)
    sign_in_browser(page, live_server.url, pharmacist, password, "/pharmacy/verify/")
    expect(page.get_by_test_id("verification-queue")).to_contain_text(EVIL)
    page.goto(f"{live_server.url}/pharmacy/verify/{order['id']}/")
    expect(page.locator("body")).to_contain_text("<script>alert(2)</script>")
    page.wait_for_timeout(500)
    assert dialogs == []
    assert "script-src 'self'" in response_headers.get("content-security-policy", "")
