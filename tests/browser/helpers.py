"""What several browser tests do the same way: a screenshot for the artefacts, and the patient opening their link on a
phone and confirming their date of birth."""

from __future__ import annotations

import os

from orders.models import Order
from orders.patient_links import link_token, patient_link_current

SHOTS = os.environ.get("SHOTS_DIR", "")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def patient_on_phone(browser, live_server, order_id, *, date_of_birth: str = "1991-04-12"):
    """(the phone's context, its page) on the order's status page, the date of birth confirmed."""
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order_id)))
    phone = browser.new_context(**PHONE)
    patient = phone.new_page()
    patient.goto(f"{live_server.url}/s/{token}/")
    patient.get_by_label("Date of birth").fill(date_of_birth)
    patient.get_by_role("button", name="Continue").click()
    return phone, patient
