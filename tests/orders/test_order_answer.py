"""The order answer built directly (orders.api_orders: OrderSerializer and PreparationOutSerializer build their dict in
plain Python, issue 22) equals DRF's own field-by-field walk over the same declared fields, for every kind of order the
API answers with: submitted, approved with a patient link, rush asked for, refills, a pharmacist's beyond-use period,
empty values, the list's cut snapshot and the detail's whole one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework import serializers

from orders import selectors
from orders.api_orders import OrderSerializer, PreparationOutSerializer
from orders.models import Order, Preparation
from tests.builders import approve, submit

pytestmark = pytest.mark.django_db


def drf_walk(order) -> dict:
    """The answer as DRF's Serializer.to_representation builds it, field by field, nested serializers included."""
    generic = serializers.Serializer.to_representation
    with mock.patch.object(OrderSerializer, "to_representation", generic), \
            mock.patch.object(PreparationOutSerializer, "to_representation", generic):
        return OrderSerializer(order).data


@pytest.fixture
def orders(api_as, rivera, staff, ready, pharmacist):
    waiting = submit(api_as, rivera, first="Ana", refills=3, refill_interval_days=28)
    approved = submit(api_as, rivera, first="Ben")
    approve(staff, approved)
    rushed = submit(api_as, rivera, first="Cy")
    asked = api_as(rivera.user).post(f"/api/v1/orders/{rushed['id']}/rush/", {"reason": "The patient flies on Monday."}, format="json")
    assert asked.status_code == 200, asked.json()
    # Values the API's own paths rarely leave: a pharmacist's period, no promise, an empty note, odd decimals.
    Preparation.objects.filter(order__public_id=approved["id"]).update(
        assigned_bud_days=45, bud_citation="Stability study 12.", bud_reason="Tested in house.", bud_assigned_by=pharmacist,
        bud_assigned_at=timezone.now(), quantity=Decimal("12.345"), target_ph=None)
    Order.objects.filter(public_id=waiting["id"]).update(promised_ship_date=None, promised_delivery_date=None,
                                                         estimated_delivery_date=dt.date(2027, 1, 4), clinical_difference_note="")
    return [waiting["id"], approved["id"], rushed["id"]]


def test_the_built_answer_equals_drfs_walk(api_as, rivera, orders):
    listed = list(selectors.order_list_api(user=rivera.user, include_drafts=False))
    whole = [selectors.order_get(user=rivera.user, public_id=public_id) for public_id in orders]
    assert len(listed) == 3
    for order in listed + whole:
        built = OrderSerializer(order).data
        assert built == drf_walk(order)
        assert list(built) == list(drf_walk(order))  # the same keys in the same order
        assert [list(p) for p in built["preparations"]] == [list(p) for p in drf_walk(order)["preparations"]]
    kinds = {(o["status"], o["rush"]["status"], o["patient_status_url"] is not None) for o in map(drf_walk, listed)}
    assert ("approved", "none", True) in kinds and ("submitted", "requested", False) in kinds
    # And the list endpoint answers with those dicts.
    page = api_as(rivera.user).get("/api/v1/orders/?page_size=50").json()["results"]
    assert sorted(page, key=lambda o: o["id"]) == sorted((drf_walk(o) for o in listed), key=lambda o: o["id"])


def test_an_order_without_a_patient_answers_null(api_as, rivera, orders):
    order = selectors.order_get(user=rivera.user, public_id=orders[0])
    order.patient = None
    assert OrderSerializer(order).data["patient"] is None
    assert OrderSerializer(order).data == drf_walk(order)
