"""In Chromium (1366 and 390 px): the technician's ship form offers the patient's other ready order for the same address;
ticked, both go in one parcel under one tracking number, and the job page says so."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fulfillment.models import Shipment
from orders.models import Order
from tests.builders import claimed_job
from tests.fulfillment.test_parcels import _release, _released_order
from tests.twofa import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_two_orders_of_one_patient_ship_in_one_parcel_from_the_page(page, live_server, api_as, rivera, staff, technician, password,
                                                                    ready):
    ARTEFACTS.mkdir(exist_ok=True)
    first, first_job = claimed_job(api_as, rivera, staff)
    _release(staff, first_job["id"])
    patient = Order.objects.get(public_id=first["id"]).patient
    second, second_job = _released_order(api_as, rivera, staff, patient_id=str(patient.public_id))
    second_number = Order.objects.get(public_id=second["id"]).number

    sign_in_browser(page, live_server.url, technician, password)
    for width in (390, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/pharmacy/jobs/{first_job['id']}/")
        form = page.get_by_test_id("ship-form")
        expect(form.get_by_test_id("combine")).to_contain_text(f"Maya Lopez also has order {second_number} ready for this address")
        expect(form.get_by_test_id("parcel-job")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        form.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTEFACTS / f"parcel-ship-form-{width}.png"), full_page=True)

    form = page.get_by_test_id("ship-form")
    mine, theirs = form.get_by_test_id("parcel-job").nth(0), form.get_by_test_id("parcel-job").nth(1)
    expect(mine.get_by_role("checkbox")).to_be_checked()
    expect(theirs.get_by_role("checkbox")).not_to_be_checked()  # another order goes in only when the technician says so
    expect(theirs).to_contain_text(f"(order {second_number})")
    theirs.get_by_role("checkbox").check()
    form.get_by_label("Tracking number").fill("SIM-PAGE-0001")
    form.get_by_role("button", name="Ship").click()

    expect(page.get_by_test_id("job-status")).to_have_text("Shipped")
    first_number = Order.objects.get(public_id=first["id"]).number
    expect(page.get_by_test_id("parcel-orders")).to_have_text(re.compile(
        rf"One parcel for orders ({first_number}, {second_number}|{second_number}, {first_number})\."))
    page.get_by_test_id("shipment").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTEFACTS / "parcel-shipped-1366.png"), full_page=True)
    shipment = Shipment.objects.get(tracking_number="SIM-PAGE-0001")
    assert shipment.orders.count() == 2 and shipment.jobs.count() == 2
    assert set(Order.objects.filter(public_id__in=[first["id"], second["id"]]).values_list("status", flat=True)) == {"shipped"}
