"""F5 (issue 17, finding 5): a NUL character in any of 13 page forms answered 500 (PostgreSQL cannot
store it). Now every page form refuses it with 400 and a message naming the field, before the view
runs: nothing is saved, and one log line without the value is written."""

import logging

import pytest

from fulfillment.models import WebhookEndpoint
from orders.models import Favourite, Order, Patient
from portal.models import ApiToken
from tests.portal.test_access_matrix import world  # noqa: F401 - rivera's order, endpoint, job, …
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
NUL = "a\x00b"


def _state():
    return (sorted(Order.objects.values_list("public_id", "status", "version", "draft")), Patient.objects.count(),
            Favourite.objects.count(), WebhookEndpoint.objects.count(), ApiToken.objects.count())


def test_every_page_form_refuses_a_nul_with_a_message_naming_the_field(world, client, rivera, pharmacist, password, caplog):  # noqa: F811
    from django.test import Client

    doctor = sign_in(client, rivera.user, password)
    draft = Order.objects.get(public_id=doctor.post("/orders/new/").url.split("/")[2])
    order = world["order"]
    pharmacy = sign_in(Client(), pharmacist, password)
    edit = f"/orders/{draft.public_id}/edit/"
    base = {"prep_count": "1", "prep-0-base": "cream-base-pf", "prep-0-ing_count": "1", "action": "check"}
    forms = [
        (doctor, edit, {**base, "prep-0-directions": NUL}, "directions"),
        (doctor, edit, {**base, "prep-0-ing-0-code": NUL}, "ingredient"),
        (doctor, edit, {**base, "clinical_difference_note": NUL}, "clinical note"),
        (doctor, edit, {**base, "action": "save_favourite:0", "prep-0-fav_name": NUL}, "favourite name"),
        (doctor, "/patients/new/", {"first_name": NUL, "last_name": "Lopez"}, "first name"),
        (doctor, "/patients/new/", {"first_name": "Maya", "notes": NUL}, "notes"),
        (doctor, "/webhooks/", {"url": "http://127.0.0.1:9/" + NUL, "event_types": "order.status_changed"}, "url"),
        (doctor, "/webhooks/", {"url": "http://127.0.0.1:9/h", "description": NUL}, "description"),
        (doctor, "/accounts/security/tokens/", {"name": NUL}, "name"),
        (pharmacy, f"/pharmacy/verify/{order.public_id}/clarify/", {"question": NUL}, "question"),
        (pharmacy, f"/pharmacy/verify/{order.public_id}/reject/", {"reason": NUL}, "reason"),
        (doctor, f"/orders/{order.public_id}/answer/", {"answer": NUL}, "answer"),
        (doctor, f"/orders/{order.public_id}/cancel/", {"reason": NUL}, "reason"),
    ]
    before = _state()
    with caplog.at_level(logging.WARNING):
        for who, url, data, label in forms:
            response = who.post(url, data)
            assert response.status_code == 400, (url, label, response.status_code)
            text = response.content.decode()
            assert f"The field “{label}” contains a NUL character" in text, (url, label)
    assert _state() == before  # nothing saved anywhere
    lines = [r.getMessage() for r in caplog.records if "NUL character" in r.getMessage()]
    assert len(lines) == len(forms) and not any("\x00" in line for line in lines)


def test_the_patient_status_page_keeps_its_one_plain_answer(client):
    """The patient's page answers every malformed link or date the same way (its own rule)."""
    assert client.post("/s/abc/", {"date_of_birth": NUL}).status_code == 404
