"""Stock lots as the formulary's services keep them: consumption (all or none, exhausted at zero) and the
hourly sweep that marks lots past their expiry as expired."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from formulary import tasks
from formulary.models import LotStatus, StockLot
from formulary.services import stock_lots_consume
from portal.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_consuming_takes_every_lot_or_none_and_exhausts_a_lot_taken_to_zero(ready):
    first, second = StockLot.objects.filter(material__code__in=["pe9010", "niacinamide"]).order_by("pk")[:2]
    with pytest.raises(ServiceError) as refused:
        stock_lots_consume(takes=[(first, Decimal("1")), (second, second.quantity_on_hand + 1)])
    assert f"Lot {second.lot_number}" in refused.value.message and refused.value.fields == {"lots": [f"Not enough left in lot {second.lot_number}."]}
    first.refresh_from_db()
    assert first.quantity_on_hand == Decimal("500") and first.status == LotStatus.RELEASED  # nothing taken from the first either
    stock_lots_consume(takes=[(second, Decimal("200")), (first, first.quantity_on_hand)])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.quantity_on_hand, first.status) == (0, LotStatus.EXHAUSTED)
    assert (second.quantity_on_hand, second.status) == (Decimal("300"), LotStatus.RELEASED)


def test_the_hourly_sweep_marks_lots_past_their_expiry_as_expired(ready):
    lot = StockLot.objects.filter(material__code="pe9010").order_by("pk").first()
    StockLot.objects.filter(pk=lot.pk).update(expires_on=timezone.localdate() - dt.timedelta(days=1))
    tasks.expire_lots()
    lot.refresh_from_db()
    assert lot.status == LotStatus.EXPIRED
    assert StockLot.objects.filter(status=LotStatus.EXPIRED).count() == 1  # in-date lots are left alone
