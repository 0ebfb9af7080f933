"""The formulary API: the seed listed exactly, filters, scoping, stock lots, constant queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from formulary import selectors
from formulary.models import LotStatus, Material, StockLot

pytestmark = pytest.mark.django_db


def all_pages(client, url):
    items, next_url = [], url
    while next_url:
        body = client.get(next_url).json()
        items += body["results"]
        next_url = body["next"]
    return items


def composition_of(item):
    return [{"substance": c["substance"], "percent": c["percent"]} for c in item["composition"]]


def test_api_lists_every_seed_item_with_the_same_composition(api_as, rivera, formulary):
    client = api_as(rivera.user)
    materials = all_pages(client, "/api/v1/formulary/ingredients/?page_size=200")
    bases = all_pages(client, "/api/v1/formulary/bases/")
    groups = all_pages(client, "/api/v1/formulary/allergen-groups/")
    assert (len(materials), len(bases), len(groups)) == (56, 14, 14)
    seed_materials = {m["code"]: m["composition"] for m in formulary["materials"]}
    seed_bases = {b["code"]: b["composition"] for b in formulary["bases"]}
    assert {m["code"]: composition_of(m) for m in materials} == seed_materials
    assert {b["code"]: composition_of(b) for b in bases} == seed_bases
    assert [g["code"] for g in groups] == [g["code"] for g in formulary["allergen_groups"]]


def test_page_size_is_capped_at_200(api_as, rivera, formulary):
    body = api_as(rivera.user).get("/api/v1/formulary/ingredients/?page_size=5000").json()
    assert len(body["results"]) == 56  # all fit in one capped page
    body = api_as(rivera.user).get("/api/v1/formulary/ingredients/?page_size=10").json()
    assert len(body["results"]) == 10 and body["count"] == 56


def _carriers(formulary, group):
    """From the seed file itself: substances that carry, may carry or are disputed for `group`."""
    return {
        s["code"] for s in formulary["substances"]
        if group in s["allergen_groups"] + s["disputed_allergen_groups"] + s["origin_unknown_groups"]
    }


@pytest.mark.parametrize("group", ["PARABENS", "TREE_NUTS", "FORMALDEHYDE_RELEASERS", "DAIRY"])
def test_free_of_leaves_out_everything_with_the_group_anywhere(api_as, rivera, formulary, group):
    carriers = _carriers(formulary, group)
    expected_materials = {m["code"] for m in formulary["materials"] if not {c["substance"] for c in m["composition"]} & carriers}
    expected_bases = {b["code"] for b in formulary["bases"] if not {c["substance"] for c in b["composition"]} & carriers}
    client = api_as(rivera.user)
    materials = {m["code"] for m in all_pages(client, f"/api/v1/formulary/ingredients/?page_size=200&free_of={group}")}
    bases = {b["code"] for b in all_pages(client, f"/api/v1/formulary/bases/?free_of={group}")}
    assert materials == expected_materials and bases == expected_bases
    assert len(expected_materials) < 56 or len(expected_bases) < 14  # the filter really removed something


def test_free_of_parabens_removes_the_parabens(api_as, rivera, formulary):
    codes = {m["code"] for m in all_pages(api_as(rivera.user), "/api/v1/formulary/ingredients/?page_size=200&free_of=PARABENS")}
    assert not {"methylparaben", "propylparaben", "butylparaben"} & codes
    assert "phenoxyethanol" in codes


def test_filters_by_category_vehicle_and_search(api_as, rivera, formulary):
    client = api_as(rivera.user)
    probiotics = all_pages(client, "/api/v1/formulary/ingredients/?category=probiotic")
    assert probiotics and all(m["category"] == "probiotic" for m in probiotics)
    ointment = all_pages(client, "/api/v1/formulary/ingredients/?page_size=200&vehicle=ointment")
    assert ointment and all("ointment" in m["vehicles"] for m in ointment)
    # INCI search reaches inside a material: the lysate solution carries butylene glycol
    found = {m["code"] for m in all_pages(client, "/api/v1/formulary/ingredients/?search=butylene glycol")}
    assert "lactobacillus-ferment-lysate" in found
    assert all_pages(client, "/api/v1/formulary/bases/?vehicle=ointment")[0]["vehicle"] == "ointment"


def test_bad_filters_are_400_with_the_field(api_as, rivera, formulary):
    client = api_as(rivera.user)
    response = client.get("/api/v1/formulary/ingredients/?free_of=PARABENS,NOPE")
    assert response.status_code == 400 and "NOPE" in response.json()["error"]["fields"]["free_of"][0]
    assert client.get("/api/v1/formulary/ingredients/?category=magic").status_code == 400


def test_prescriber_can_neither_write_nor_see_lots(api_as, rivera, formulary):
    client = api_as(rivera.user)
    assert client.get("/api/v1/formulary/lots/").status_code == 403
    body = {"material": "niacinamide", "lot_number": "X1", "supplier": "S", "expires_on": "2030-01-01", "quantity": "10"}
    assert client.post("/api/v1/formulary/lots/", body, format="json").status_code == 403
    assert client.post("/api/v1/formulary/ingredients/", {"code": "x"}, format="json").status_code == 405
    assert StockLot.objects.filter(lot_number="X1").count() == 0


def test_anonymous_is_refused(api_client, formulary):
    assert api_client.get("/api/v1/formulary/ingredients/").status_code == 401


def lot_body(**overrides):
    body = {"material": "niacinamide", "lot_number": "NIA-7781", "supplier": "DSM", "expires_on": "2030-06-30",
            "received_on": str(timezone.localdate()), "quantity": "250.5"}
    body.update(overrides)
    return body


def test_technician_receives_stock_into_quarantine_and_pharmacist_releases_it(api_as, technician, pharmacist, formulary):
    response = api_as(technician).post("/api/v1/formulary/lots/", lot_body(), format="json")
    assert response.status_code == 201, response.json()
    lot = response.json()
    assert lot["status"] == "quarantined" and lot["quantity_on_hand"] == 250.5 and lot["material"] == "niacinamide"
    assert api_as(technician).post(f"/api/v1/formulary/lots/{lot['id']}/release/").status_code == 403
    released = api_as(pharmacist).post(f"/api/v1/formulary/lots/{lot['id']}/release/")
    assert released.status_code == 200 and released.json()["status"] == "released"
    again = api_as(pharmacist).post(f"/api/v1/formulary/lots/{lot['id']}/release/")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_transition"
    listed = api_as(technician).get("/api/v1/formulary/lots/?item=niacinamide&status=released").json()["results"]
    assert "NIA-7781" in {row["lot_number"] for row in listed}


def test_technician_cannot_receive_straight_to_released(api_as, technician, formulary):
    response = api_as(technician).post("/api/v1/formulary/lots/", lot_body(status="released"), format="json")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"quantity": "-5"}, "quantity", "above zero"),
        ({"quantity": "0"}, "quantity", "above zero"),
        ({"expires_on": "2020-01-01", "received_on": "2020-02-01"}, "expires_on", "on or before it was received"),
        ({"material": "unicorn-dust"}, "material", "unicorn-dust"),
        ({"expires_on": "not a date"}, "expires_on", "Date has wrong format"),
        ({"material": "", "base": ""}, "material", "Name a material or a base"),
    ],
)
def test_bad_lots_are_refused_naming_the_field(api_as, technician, formulary, overrides, field, words):
    response = api_as(technician).post("/api/v1/formulary/lots/", lot_body(**overrides), format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert field in fields and words in " ".join(fields[field])


def test_duplicate_lot_number_for_one_material_is_refused(api_as, technician, formulary):
    client = api_as(technician)
    assert client.post("/api/v1/formulary/lots/", lot_body(), format="json").status_code == 201
    response = client.post("/api/v1/formulary/lots/", lot_body(), format="json")
    assert response.status_code == 400
    assert "already been received" in response.json()["error"]["fields"]["lot_number"][0]
    # the same number for another material is a different lot
    assert client.post("/api/v1/formulary/lots/", lot_body(material="panthenol"), format="json").status_code == 201


def test_expired_lot_shows_as_expired_and_is_never_offered(api_as, technician, formulary):
    material = Material.objects.get(code="panthenol")
    today = timezone.localdate()
    old = StockLot.objects.create(material=material, lot_number="OLD-1", supplier="S", received_on=today - dt.timedelta(days=400),
                                  expires_on=today - dt.timedelta(days=1), quantity_received=100, quantity_on_hand=100,
                                  status=LotStatus.RELEASED)
    fresh = StockLot.objects.create(material=material, lot_number="NEW-1", supplier="S", received_on=today,
                                    expires_on=today + dt.timedelta(days=300), quantity_received=100, quantity_on_hand=100,
                                    status=LotStatus.RELEASED)
    rows = {r["lot_number"]: r for r in api_as(technician).get("/api/v1/formulary/lots/?item=panthenol").json()["results"]}
    assert rows["OLD-1"]["status"] == "expired" and rows["NEW-1"]["status"] == "released"
    offered = list(selectors.usable_lots(material_codes=["panthenol"], base_codes=[], on=today))
    assert old not in offered and fresh in offered
    expired = {r["lot_number"] for r in api_as(technician).get("/api/v1/formulary/lots/?status=expired").json()["results"]}
    assert "OLD-1" in expired
    assert "OLD-1" not in {r["lot_number"] for r in api_as(technician).get("/api/v1/formulary/lots/?status=released").json()["results"]}


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/api/v1/formulary/ingredients/", "/api/v1/formulary/bases/"])
def test_list_endpoints_use_a_constant_number_of_queries(api_as, rivera, formulary, url):
    client = api_as(rivera.user)
    client.get(url)  # the token's first use records last_used_at once; keep that out of the count
    one = _queries(client, f"{url}?page_size=1")
    many = _queries(client, f"{url}?page_size=50")
    assert one == many


def test_lot_list_uses_a_constant_number_of_queries(api_as, technician, formulary):
    client = api_as(technician)
    from portal.demo import _demo_stock

    _demo_stock(technician)
    client.get("/api/v1/formulary/lots/")
    assert _queries(client, "/api/v1/formulary/lots/?page_size=1") == _queries(client, "/api/v1/formulary/lots/?page_size=50")
