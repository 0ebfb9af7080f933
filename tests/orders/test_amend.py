"""A clarification answered by amending: a new version of the same order, its changes marked for the pharmacist,
jobs made from the new version only; an order already approved or rejected cannot be amended (409, nothing changes)."""

from __future__ import annotations

import pytest

from fulfillment.models import Job
from orders.models import Order, OrderAmendment
from tests.builders import approve, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
BODY_V2 = {"preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly.",
                             "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 2}]}],
           "note": "Halved the niacinamide as you suggested."}


def asked(api_as, rivera, staff):
    order = submit(api_as, rivera)
    response = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/request-clarification/", {"question": "4 % niacinamide stings; 2 %?"},
                                        format="json")
    assert response.status_code == 200 and response.json()["status"] == "clarification_requested"
    return order


def test_amended_order_is_version_2_with_changes_marked_and_approval_uses_it(api_as, rivera, staff, ready, client, pharmacist, password):
    order = asked(api_as, rivera, staff)
    sign_in(client, pharmacist, password)
    waiting = client.get("/pharmacy/verify/").content.decode()
    listed = waiting[waiting.index('data-testid="waiting-for-prescriber"'):]
    assert order["number"] in listed and "4 % niacinamide stings" in listed and 'data-testid="waiting-time"' in listed

    amended = api_as(rivera.user).post(f"/api/v1/orders/{order['id']}/amend/", BODY_V2, format="json")
    assert amended.status_code == 200, amended.json()
    assert amended.json()["status"] == "submitted"
    assert [line["percent"] for line in amended.json()["preparations"][0]["ingredients"] if line["ingredient"] == "niacinamide"] == [2.0]
    assert OrderAmendment.objects.get(order__public_id=order["id"]).version == 2

    queue = client.get("/pharmacy/verify/").content.decode()
    first_row = queue[queue.index("<tbody>"):queue.index("</tr>", queue.index("<tbody>"))]
    assert order["number"] in first_row and "answered" in first_row and "version 2" in first_row
    page = client.get(f"/pharmacy/verify/{order['id']}/").content.decode()
    assert "Version 2: amended by" in page and "Halved the niacinamide" in page
    assert "Changed in version 2: Niacinamide: 4 % → 2 %" in page
    assert 'data-testid="ingredients" class="changed"' in page and 'data-testid="route" class="changed"' not in page

    approve(staff, staff["pharmacist"].get(f"/api/v1/orders/{order['id']}/").json())
    jobs = list(Job.objects.filter(preparation__order__public_id=order["id"]))
    assert len(jobs) == 1
    niacinamide = [line for line in jobs[0].preparation.ingredients if line["ingredient"] == "niacinamide"]
    assert niacinamide[0]["percent"] == 2.0  # made from version 2 only


@pytest.mark.parametrize("then", ["approve", "reject"])
def test_amending_an_order_already_approved_or_rejected_is_409_and_changes_nothing(api_as, rivera, staff, ready, then):
    order = submit(api_as, rivera)
    if then == "approve":
        approve(staff, order)
    else:
        assert staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/reject/", {"reason": "Not for this patient."},
                                        format="json").status_code == 200
    before = Order.objects.get(public_id=order["id"])
    preparations = list(before.preparations.values_list("public_id", "ingredients"))
    refused = api_as(rivera.user).post(f"/api/v1/orders/{order['id']}/amend/", BODY_V2, format="json")
    assert refused.status_code == 409, refused.json()
    after = Order.objects.get(public_id=order["id"])
    assert (after.status, after.version) == (before.status, before.version)
    assert list(after.preparations.values_list("public_id", "ingredients")) == preparations
    assert not OrderAmendment.objects.filter(order=after).exists()


def test_the_prescriber_amends_on_the_page(api_as, rivera, staff, ready, client, password):
    order = asked(api_as, rivera, staff)
    sign_in(client, rivera.user, password)
    detail = client.get(f"/orders/{order['id']}/").content.decode()
    assert "Amend the order" in detail
    response = client.post(f"/orders/{order['id']}/amend/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order['id']}/edit/"
    edit = client.get(f"/orders/{order['id']}/edit/").content.decode()
    assert "Amend order" in edit
    draft = Order.objects.get(public_id=order["id"]).draft
    assert draft["amending"] and draft["preparations"][0]["ingredients"][1]["ingredient"] == "niacinamide"
    review = client.get(f"/orders/{order['id']}/review/").content.decode()
    assert "version 2" in review
    signed = client.post(f"/orders/{order['id']}/review/", {"attest": "on", "note": "No change needed after all."})
    assert signed.status_code == 302, [line for line in signed.content.decode().splitlines() if "error" in line][:5]
    order_row = Order.objects.get(public_id=order["id"])
    assert order_row.status == "submitted" and order_row.amendments.get().note == "No change needed after all."
    assert "amended the order and signed it again" in client.get(f"/orders/{order['id']}/").content.decode()
