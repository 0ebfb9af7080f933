"""A refusal on a page is said once, in a plain sentence: the field notes that the sentence already says are
not repeated after it (walk-through 2026-12-01, #8 and #13)."""

from __future__ import annotations

import html

import pytest

from orders.models import Order
from tests.builders import released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db

CREAM = [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def test_an_empty_tracking_number_is_said_once(api_as, rivera, staff, ready, client, technician, password):
    order, job = released_job(api_as, rivera, staff)
    sign_in(client, technician, password)
    page = _text(client.post(f"/pharmacy/jobs/{job['id']}/ship/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight",
                                                                   "tracking_number": ""}, follow=True))
    # Beside the field, once, the form as typed.
    assert _field_error(page, "err-tracking_number") == "Enter the carrier's tracking number: 6–40 letters, digits or dashes, without spaces."
    assert page.count("6–40 letters, digits or dashes") == 1
    assert 'id="service" name="service" value="Overnight"' in page
    assert Order.objects.get(public_id=order["id"]).status != "shipped"

    wrong = _text(client.post(f"/pharmacy/jobs/{job['id']}/ship/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight",
                                                                    "tracking_number": "has spaces in it"}, follow=True))
    assert wrong.count("6–40 letters, digits or dashes") == 1


def test_approving_before_the_formulation_record_is_said_once(api_as, rivera, client, pharmacist, password, ready):
    order = submit(api_as, rivera, first="Maya", quantity=50, ingredients=CREAM)
    mfr = order["preparations"][0]["mfr"]
    assert mfr["status"] == "draft"
    warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"] if f["severity"] == "warning"})
    sign_in(client, pharmacist, password)
    page = _text(client.post(f"/pharmacy/verify/{order['id']}/approve/", {"acknowledge": warnings}, follow=True))
    said = f"preparation 1 follows {mfr['code']} v1, which is draft"
    assert f"Approve the master formulation records first: {said}." in page
    assert page.lower().count(said.lower()) == 1, page
    assert Order.objects.get(public_id=order["id"]).status == "submitted"


def _field_error(page: str, field_id: str) -> str:
    start = page.index(f'id="{field_id}"')
    return page[page.index(">", start) + 1:page.index("</p>", start)]


def test_a_rush_without_a_reason_is_refused_beside_the_reason(api_as, rivera, client, password, ready):
    order = submit(api_as, rivera)
    sign_in(client, rivera.user, password)
    response = client.post(f"/orders/{order['id']}/rush/", {"reason": "   "}, follow=True)
    page = _text(response)
    assert response.redirect_chain == []  # the order page again, the form open, not a redirect with a message on top
    assert _field_error(page, "err-rush-reason") == "Say why the order is urgent: the pharmacist decides on it."
    assert page.count("Say why the order is urgent") == 1 and "This field is required" not in page
    assert 'aria-invalid="true" aria-describedby="err-rush-reason"' in page
    assert Order.objects.get(public_id=order["id"]).rush == "none"


def test_a_renewal_denied_without_a_reason_is_refused_beside_the_reason(client, api_as, rivera, staff, ready, time_machine, password):
    from django.urls import reverse

    from orders.models import RenewalRequest
    from tests.fulfillment.test_refills import prep_id
    from tests.fulfillment.test_renewals import depleted

    order = depleted(api_as, rivera, staff, time_machine)
    renewal_id = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/renewal-requests/", {}, format="json").json()["id"]
    sign_in(client, rivera.user, password)
    response = client.post(reverse("renewal-deny", args=[renewal_id]), {"reason": "  "}, follow=True)
    page = _text(response)
    said = "Say why you deny the renewal: the pharmacy and the patient are told."
    assert _field_error(page, f"err-deny-{renewal_id}") == said
    assert page.count("Say why you deny the renewal") == 1 and "This field is required" not in page  # not at the top as well
    assert f'aria-invalid="true" aria-describedby="err-deny-{renewal_id}"' in page
    assert RenewalRequest.objects.get(public_id=renewal_id).status == "pending"
    again = _text(client.get("/prescriber/", follow=True))
    assert f"err-deny-{renewal_id}" not in again  # said once, not on every later visit
