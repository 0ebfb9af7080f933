"""Densities (g/mL at 20–25 °C, with their source), strength bases and EU limit sources: in the
starter formulary, through import and export, on the formulary pages and in the API."""

import copy
import json

import pytest
from django.core.exceptions import ValidationError

from formulary.interchange import FormularyImportError, formulary_export, formulary_import
from formulary.models import Base, Material
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def _base(data, code):
    return next(b for b in data["bases"] if b["code"] == code)


def _material(data, code):
    return next(m for m in data["materials"] if m["code"] == code)


def _refused(data):
    """Import refuses the file; the database still exports the formulary it had."""
    before = formulary_export()
    with pytest.raises(FormularyImportError) as caught:
        formulary_import(data=data)
    assert formulary_export() == before
    return caught.value.problems


def test_every_ml_base_and_every_liquid_material_has_a_cited_density(formulary):
    ml_bases = [b for b in formulary["bases"] if b["unit"] == "mL"]
    assert {b["code"] for b in ml_bases} == {"spray-base-pf", "shampoo-base-capb", "shampoo-base-gentle", "conditioner-base",
                                             "scalp-solution-base-pf"}
    liquids = [m for m in formulary["materials"] if m["physical_form"] == "liquid"]
    assert len(liquids) >= 25
    for item in ml_bases + liquids:
        assert 0.7 < item["density_g_per_ml"] < 1.4, item["code"]
        assert len(item["density_source"]) > 20, item["code"]
    assert _base(formulary, "shampoo-base-capb")["density_g_per_ml"] == 1.02
    assert "Sigma-Aldrich" in _material(formulary, "phenoxyethanol")["density_source"]
    assert all(m["strength_basis"] == "w/w" for m in formulary["materials"])
    sources = {s["code"]: s["eu_limit_source"] for s in formulary["substances"]}
    assert "Annex V entry 29" in sources["phenoxyethanol"] and "rinse-off 2.5 %" in sources["sodium-benzoate"]


def test_densities_round_trip_exactly(formulary):
    data = copy.deepcopy(formulary)
    _material(data, "glycerin")["density_g_per_ml"] = 1.2613
    _base(data, "conditioner-base")["density_source"] = "Measured with a 25 mL pycnometer at 22 °C, lot CB-07"
    formulary_import(data=data)
    assert formulary_export() == data
    assert json.dumps(formulary_export(), indent=1, ensure_ascii=False) == json.dumps(data, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("value", [0, -1.02, 3.01, 12, "1.02"])
def test_a_density_that_is_not_one_is_refused(formulary, value):
    data = copy.deepcopy(formulary)
    _base(data, "shampoo-base-capb")["density_g_per_ml"] = value
    problems = _refused(data)
    assert [p["field"] for p in problems] == ["density_g_per_ml"]
    assert problems[0]["item"] == "bases[10] shampoo-base-capb"
    if not isinstance(value, str):
        assert problems[0]["message"] == f"{value} g/mL is not a density: it must be above 0 and at most 3 g/mL"


def test_a_density_of_exactly_3_is_allowed(formulary):
    data = copy.deepcopy(formulary)
    _material(data, "zinc-pyrithione")["density_g_per_ml"] = 3
    _material(data, "zinc-pyrithione")["density_source"] = "Upper bound test"
    formulary_import(data=data)
    assert Material.objects.get(code="zinc-pyrithione").density_g_per_ml == 3


def test_an_ml_base_without_a_density_is_an_import_error(formulary):
    data = copy.deepcopy(formulary)
    _base(data, "spray-base-pf")["density_g_per_ml"] = None
    del _base(data, "scalp-solution-base-pf")["density_g_per_ml"]
    problems = _refused(data)
    assert {(p["item"], p["field"]) for p in problems} == {("bases[6] spray-base-pf", "density_g_per_ml"),
                                                          ("bases[13] scalp-solution-base-pf", "density_g_per_ml")}
    assert "required for a base made in mL" in problems[0]["message"]
    # a gram base needs none
    assert _base(formulary, "cream-base-pf")["density_g_per_ml"] is None


def test_a_density_needs_its_source(formulary):
    data = copy.deepcopy(formulary)
    _material(data, "squalane")["density_source"] = " "
    problems = _refused(data)
    assert problems == [{"item": "materials[32] squalane", "field": "density_source",
                         "message": "name where the density comes from (a supplier data sheet or a standard reference)"}]


def test_percent_v_v_for_a_solid_is_refused(formulary):
    data = copy.deepcopy(formulary)
    _material(data, "niacinamide")["strength_basis"] = "v/v"
    _material(data, "ceramide-np")["strength_basis"] = "by eye"
    problems = _refused(data)
    assert {"item": "materials[17] niacinamide", "field": "strength_basis",
            "message": "% v/v is only for liquids; niacinamide is a solid: declare it % w/w or % w/v"} in problems
    assert any(p["item"] == "materials[29] ceramide-np" and p["field"] == "strength_basis" for p in problems)
    # a liquid may be declared v/v, and a solid w/v
    ok = copy.deepcopy(formulary)
    _material(ok, "phenoxyethanol")["strength_basis"] = "v/v"
    _material(ok, "niacinamide")["strength_basis"] = "w/v"
    formulary_import(data=ok)
    assert Material.objects.get(code="phenoxyethanol").strength_basis == "v/v"


def test_the_database_and_the_admin_refuse_the_same(formulary):
    base = Base.objects.get(code="spray-base-pf")
    base.density_g_per_ml = None
    with pytest.raises(ValidationError, match="needs its density"):
        base.full_clean()
    base.density_g_per_ml = 0
    with pytest.raises(ValidationError, match="above 0 and at most 3"):
        base.full_clean()
    solid = Material.objects.get(code="niacinamide")
    solid.strength_basis = "v/v"
    with pytest.raises(ValidationError, match="only for a liquid"):
        solid.full_clean()


def test_the_formulary_page_and_api_show_densities(client, rivera, formulary, password, api_as):
    page = sign_in(client, rivera.user, password).get("/formulary/?kind=bases&q=shampoo").content.decode()
    assert "1.02 g/mL at 20–25 °C: 100 mL weighs about 102 g" in page and "Cola®Det SCE-40PG" in page
    page = client.get("/formulary/?q=phenoxyethanol").content.decode()
    assert "1.102 g/mL at 20–25 °C" in page and "Liquid" in page
    bases = api_as(rivera.user).get("/api/v1/formulary/bases/").json()
    rows = bases["results"] if isinstance(bases, dict) else bases
    shampoo = next(b for b in rows if b["code"] == "shampoo-base-capb")
    assert shampoo["density_g_per_ml"] == 1.02 and "Colonial Chemical" in shampoo["density_source"]
