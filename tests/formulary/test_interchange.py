"""Import and export in the shape of formulary.json: exact both ways, all or nothing."""

import copy
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from formulary.interchange import FormularyImportError, formulary_export, formulary_import
from formulary.models import AllergenGroup, Base, FormularyState, Material, MaterialComponent, StockLot, Substance

pytestmark = pytest.mark.django_db


def wipe_formulary():
    StockLot.objects.all().delete()
    for model in (Material, Base):
        model.objects.all().delete()
    Substance.objects.all().delete()
    AllergenGroup.objects.all().delete()
    FormularyState.objects.all().delete()


def test_loaded_formulary_is_the_seed_exactly(formulary):
    assert formulary_export() == formulary
    # the same text as well, so a diff of two exports is meaningful
    from portal.demo import SEED_FORMULARY

    assert json.dumps(formulary_export(), indent=1, ensure_ascii=False) + "\n" == SEED_FORMULARY.read_text(encoding="utf-8")


def test_export_then_import_into_an_empty_database_is_identical(formulary, tmp_path):
    path = tmp_path / "export.json"
    call_command("formulary_export", str(path))
    wipe_formulary()
    assert Material.objects.count() == 0
    call_command("formulary_import", str(path))
    assert formulary_export() == json.loads(path.read_text())
    assert Material.objects.count() == 56 and Base.objects.count() == 14 and AllergenGroup.objects.count() == 14


def test_import_bumps_the_revision(formulary):
    before = FormularyState.objects.get().revision
    formulary_import(data=formulary)
    assert FormularyState.objects.get().revision == before + 1


def _problems(data):
    with pytest.raises(FormularyImportError) as caught:
        formulary_import(data=data)
    return caught.value.problems


def test_composition_not_summing_to_100_is_refused_and_nothing_changes(formulary):
    data = copy.deepcopy(formulary)
    data["materials"][0]["composition"][0]["percent"] = 80.0
    data["bases"][0]["name"] = "Renamed base that must not be saved"
    problems = _problems(data)
    assert {"item": "materials[0] lactobacillus-ferment-lysate", "field": "composition", "message": "sums to 92.0 %, not 100 %"} in problems
    assert Base.objects.get(code=data["bases"][0]["code"]).name != "Renamed base that must not be saved"
    assert formulary_export() == formulary


def test_unknown_substance_code_names_item_and_field(formulary):
    data = copy.deepcopy(formulary)
    data["bases"][2]["composition"][1]["substance"] = "unobtainium"
    problems = _problems(data)
    assert problems == [{"item": "bases[2] cream-base-pg", "field": "composition[1].substance", "message": "unknown substance 'unobtainium'"}]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["materials"][3].__setitem__("use_min_percent", "lots"), "use_min_percent"),
        (lambda d: d["materials"][3].__setitem__("use_max_percent", float("nan")), "use_max_percent"),
        (lambda d: d["materials"][3].__setitem__("category", "magic"), "category"),
        (lambda d: d["materials"][3].__setitem__("vehicles", ["cream", "aerosol"]), "vehicles"),
        (lambda d: d["substances"][5].__setitem__("allergen_groups", ["NOT_A_GROUP"]), "allergen_groups"),
        (lambda d: d["bases"][0].__setitem__("min_quantity", 900), "min_quantity"),
        (lambda d: d["incompatibilities"][0].__setitem__("a", "ghost"), "a"),
        (lambda d: d["materials"].append(copy.deepcopy(d["materials"][0])), "code"),
    ],
)
def test_each_bad_field_is_named(formulary, mutate, field):
    data = copy.deepcopy(formulary)
    mutate(data)
    assert field in {p["field"] for p in _problems(data)}
    assert formulary_export() == formulary


@pytest.mark.parametrize("data", [[], "text", {"version": "x"}])
def test_malformed_file_is_refused(formulary, data):
    assert _problems(data)
    assert formulary_export() == formulary


def test_import_command_reports_bad_json(tmp_path, formulary):
    path = tmp_path / "bad.json"
    path.write_text('{"version": ')
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("formulary_import", str(path))


def test_import_command_lists_problems(tmp_path, formulary):
    data = copy.deepcopy(formulary)
    data["materials"][1]["composition"] = []
    path = tmp_path / "f.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"(?s)Nothing was imported.*materials\[1\] bifida-ferment-lysate: composition"):
        call_command("formulary_import", str(path))


def test_dropping_a_material_withdraws_it_without_deleting(formulary):
    data = copy.deepcopy(formulary)
    dropped = data["materials"].pop(0)["code"]
    formulary_import(data=data)
    material = Material.objects.get(code=dropped)
    assert not material.is_active
    assert MaterialComponent.objects.filter(material=material).exists()
    assert formulary_export() == data
