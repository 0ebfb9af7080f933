"""The formulary pages: browsing with filters, and the pharmacy's stock page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from formulary.models import LotStatus, StockLot
from tests.twofa import sign_in as two_factor_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, password):
    def sign_in(user):
        user = getattr(user, "user", user)
        return two_factor_sign_in(client, user, password)

    return sign_in


def codes_on(page: str) -> set[str]:
    import re

    return set(re.findall(r'data-code="([^"]+)"', page))


def test_browse_shows_what_each_item_is_made_of(signed_in, rivera, formulary):
    page = signed_in(rivera).get("/formulary/").content.decode()
    assert len(codes_on(page)) == 56
    assert "Lactobacillus Ferment Lysate (aqueous solution)" in page
    assert "Butylene Glycol" in page and "Add below 40 C." in page


def test_search_filters_and_htmx_partial(signed_in, rivera, formulary):
    client = signed_in(rivera)
    partial = client.get("/formulary/?q=shea", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert codes_on(partial) == {"shea-butter"}
    assert "Tree nuts" in partial  # shown as "may contain": shea is a disputed member


def test_free_of_on_the_page(signed_in, rivera, formulary):
    client = signed_in(rivera)
    page = client.get("/formulary/?kind=bases&free_of=FORMALDEHYDE_RELEASERS").content.decode()
    assert "conditioner-base" not in codes_on(page)
    assert "cream-base-pf" in codes_on(page)


def test_browse_uses_a_constant_number_of_queries(signed_in, rivera, formulary):
    client = signed_in(rivera)
    client.get("/formulary/")
    counts = []
    for query in ("?q=niacinamide", ""):
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(f"/formulary/{query}").content.decode()
        counts.append((len(codes_on(page)), len(ctx.captured_queries)))
    assert counts[0][0] == 1 and counts[1][0] == 56
    assert counts[0][1] == counts[1][1]


def test_stock_page_is_for_pharmacy_staff_only(signed_in, rivera, formulary):
    assert signed_in(rivera).get("/formulary/stock/").status_code == 403


def test_technician_receives_a_lot_on_the_page(signed_in, technician, formulary):
    client = signed_in(technician)
    response = client.post(
        "/formulary/stock/receive/",
        {"item": "material:panthenol", "lot_number": "PAN-42", "supplier": "BASF", "quantity": "300",
         "received_on": str(timezone.localdate()), "expires_on": "2031-01-31"},
        follow=True,
    )
    page = response.content.decode()
    assert "Received lot PAN-42" in page
    lot = StockLot.objects.get(lot_number="PAN-42")
    assert lot.status == LotStatus.QUARANTINED and lot.received_by == technician


def test_bad_lot_on_the_page_shows_the_problem_and_saves_nothing(signed_in, technician, formulary):
    client = signed_in(technician)
    response = client.post(
        "/formulary/stock/receive/",
        {"item": "material:panthenol", "lot_number": "PAN-43", "supplier": "BASF", "quantity": "-3",
         "received_on": "2026-01-10", "expires_on": "2025-12-31"},
        follow=True,
    )
    page = response.content.decode()
    assert "was not received" in page
    assert "must be above zero" in page and "on or before it was received" in page
    assert 'value="PAN-43"' in page  # the form keeps what was typed
    assert not StockLot.objects.filter(lot_number="PAN-43").exists()


def test_pharmacist_releases_on_the_page(signed_in, technician, pharmacist, formulary):
    from formulary.services import stock_lot_receive
    from decimal import Decimal
    import datetime as dt

    lot = stock_lot_receive(by=technician, material_code="allantoin", lot_number="AL-1", supplier="S",
                            expires_on=timezone.localdate() + dt.timedelta(days=200), quantity=Decimal("50"))
    client = signed_in(pharmacist)
    client.post(f"/formulary/stock/{lot.public_id}/release/")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
