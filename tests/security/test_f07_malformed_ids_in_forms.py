"""F7 (issue 17, finding 5): a malformed id in a page form field (hidden or chosen: "12\\x00", "abc", a huge
number) answered 500 on the redeliver and ship pages, then a plain 400 page. Now the form comes back with the
error beside the field (or above the list it came from) and the rest of what was chosen, and nothing changes."""

import pytest
from django.test import Client

from fulfillment.models import Shipment, WebhookDelivery
from orders.models import Order
from portal.form_input import CHOICE_MESSAGE
from tests.builders import released_job
from tests.portal.test_access_matrix import world  # noqa: F401
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
BAD_IDS = ["12\x00", "abc", "9" * 40, "-1"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_malformed_delivery_id_on_the_redeliver_form(world, client, rivera, password, bad):  # noqa: F811
    page = sign_in(client, rivera.user, password)
    before = list(WebhookDelivery.objects.values_list("status", "next_attempt_at"))
    response = page.post(f"/webhooks/{world['kwargs']['endpoint_id']}/", {"delivery": bad})
    assert response.status_code == 200
    assert "Nothing was sent: the delivery asked for is not one of this endpoint" in response.content.decode()
    assert list(WebhookDelivery.objects.values_list("status", "next_attempt_at")) == before


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_malformed_job_id_on_the_ship_form_keeps_the_tracking_number(api_as, rivera, staff, technician, password, ready, bad):
    _, job = released_job(api_as, rivera, staff)
    page = sign_in(Client(), technician, password)
    response = page.post(f"/pharmacy/jobs/{job['id']}/ship/", {"jobs": [job["id"], bad], "carrier": "simulated", "service": "Ground",
                                                               "tracking_number": "SIM-KEPT-1"})
    text = response.content.decode()
    assert response.status_code == 200 and CHOICE_MESSAGE in text and 'id="err-jobs"' in text
    assert 'value="SIM-KEPT-1"' in text and 'value="Ground"' in text
    assert Shipment.objects.count() == 0


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_malformed_patient_on_the_order_forms(world, client, rivera, password, bad):  # noqa: F811
    page = sign_in(client, rivera.user, password)
    favourite = world["kwargs"]["favourite_id"]
    drafts = Order.objects.filter(status="draft").count()
    for source in ("favourites", "home"):
        response = page.post("/orders/new/", {"favourite": str(favourite), "patient": bad, "from": source})
        text = response.content.decode()
        assert response.status_code == 200 and CHOICE_MESSAGE in text and f'id="err-start-{favourite}"' in text, source
    response = page.post("/orders/new/", {"favourite": bad, "from": "favourites"})
    assert response.status_code == 200 and "This favourite is not one of yours" in response.content.decode()
    assert Order.objects.filter(status="draft").count() == drafts
    draft = Order.objects.get(public_id=page.post("/orders/new/").url.split("/")[2])
    response = page.post(f"/orders/{draft.public_id}/edit/", {"prep_count": "1", "prep-0-base": "cream-base-pf", "prep-0-ing_count": "0",
                                                              "prep-0-directions": "Apply nightly.", "patient": bad})
    text = response.content.decode()
    assert response.status_code == 200 and 'id="err-patient"' in text and CHOICE_MESSAGE in text
    assert 'value="Apply nightly."' in text
    assert Order.objects.get(pk=draft.pk).draft == draft.draft  # not saved


def test_a_malformed_preparation_on_the_beyond_use_form(api_as, rivera, staff, pharmacist, password, ready):
    from tests.builders import submit

    order = submit(api_as, rivera)
    page = sign_in(Client(), pharmacist, password)
    response = page.post(f"/pharmacy/verify/{order['id']}/beyond-use-date/", {"preparation": "1\x00", "days": "60", "citation": "x",
                                                                              "reason": "y"}, follow=True)
    assert response.status_code == 200 and "Choose one of this order" in response.content.decode()
    assert Order.objects.get(public_id=order["id"]).preparations.get().assigned_bud_days is None


def test_on_the_api_a_malformed_value_that_slips_through_is_the_error_envelope(api_as, rivera):
    response = api_as(rivera.user).get("/api/v1/orders/?patient=not-a-uuid")
    assert response.status_code == 404 and "error" in response.json(), response.json()  # no patient has that id
