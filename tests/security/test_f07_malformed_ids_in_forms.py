"""F7 (issue 17, finding 5): a malformed UUID in a page form field answered 500 on the redeliver and
ship pages. Now it is a 400 that says what is wrong, and nothing changes."""

import pytest

from fulfillment.models import Shipment, WebhookDelivery
from tests.portal.test_access_matrix import world  # noqa: F401
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def test_a_malformed_delivery_id_on_the_redeliver_form_is_400(world, client, rivera, password):  # noqa: F811
    page = sign_in(client, rivera.user, password)
    before = list(WebhookDelivery.objects.values_list("status", "next_attempt_at"))
    response = page.post(f"/webhooks/{world['kwargs']['endpoint_id']}/", {"delivery": "not-a-uuid"})
    assert response.status_code == 400 and "not in the expected form" in response.content.decode()
    assert list(WebhookDelivery.objects.values_list("status", "next_attempt_at")) == before


def test_a_malformed_job_id_on_the_ship_form_is_400(world, client, technician, password):  # noqa: F811
    page = sign_in(client, technician, password)
    shipments = Shipment.objects.count()
    response = page.post(f"/pharmacy/jobs/{world['kwargs']['job_id']}/ship/",
                         {"jobs": ["not-a-uuid"], "carrier": "simulated", "service": "Ground", "tracking_number": "X1"})
    assert response.status_code == 400 and "not in the expected form" in response.content.decode()
    assert Shipment.objects.count() == shipments


def test_on_the_api_a_malformed_value_that_slips_through_is_the_error_envelope(api_as, rivera):
    response = api_as(rivera.user).get("/api/v1/orders/?patient=not-a-uuid")
    assert response.status_code in (400, 404) and "error" in response.json()
