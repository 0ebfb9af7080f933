"""The pharmacy admin's formulary tools: export and import as admin actions, compositions that must sum to 100 %."""

import io
import json

import pytest

from formulary.interchange import formulary_export
from formulary.models import FormularyState, Material
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_admin(client, pharmacy_admin, password):
    sign_in(client, pharmacy_admin, password)
    return client


def test_admin_export_is_the_formulary(as_admin, formulary):
    response = as_admin.get("/admin/formulary/formularystate/export/")
    assert response["Content-Disposition"] == 'attachment; filename="formulary.json"'
    assert json.loads(response.content) == formulary


def test_admin_import_all_or_nothing(as_admin, formulary):
    bad = json.loads(json.dumps(formulary))
    bad["materials"][0]["composition"][0]["percent"] = 1.0
    bad["materials"][1]["name"] = "Should not be saved"
    page = as_admin.post("/admin/formulary/formularystate/import/", {"file": io.BytesIO(json.dumps(bad).encode())}).content.decode()
    assert "materials[0] lactobacillus-ferment-lysate: composition: sums to" in page
    assert formulary_export() == formulary
    good = json.loads(json.dumps(formulary))
    good["materials"][1]["name"] = "Bifida Ferment Lysate (renamed)"
    revision = FormularyState.objects.get().revision
    imported = as_admin.post("/admin/formulary/formularystate/import/", {"file": io.BytesIO(json.dumps(good).encode())}, follow=True)
    assert imported.status_code == 200 and "Imported formulary" in imported.content.decode()
    assert Material.objects.get(code="bifida-ferment-lysate").name == "Bifida Ferment Lysate (renamed)"
    assert FormularyState.objects.get().revision == revision + 1


def test_admin_refuses_a_composition_that_does_not_sum_to_100(as_admin, formulary):
    material = Material.objects.get(code="niacinamide")
    component = material.components.get()
    data = {
        "code": material.code, "name": material.name, "category": material.category, "use_min_percent": "1", "use_max_percent": "10",
        "vehicles": json.dumps(material.vehicles), "ph_min": "5", "ph_max": "7", "viability": "", "active_fraction": "1",
        "storage": "room", "notes": "", "position": material.position, "is_active": "on",
        "components-TOTAL_FORMS": "1", "components-INITIAL_FORMS": "1", "components-MIN_NUM_FORMS": "0", "components-MAX_NUM_FORMS": "1000",
        "components-0-id": component.pk, "components-0-material": material.pk, "components-0-substance": component.substance_id,
        "components-0-percent": "90", "components-0-position": "0",
    }
    page = as_admin.post(f"/admin/formulary/material/{material.pk}/change/", data).content.decode()
    assert "sums to 90 %, not 100 %" in page
    component.refresh_from_db()
    assert component.percent == 100


def test_import_needs_a_pharmacy_admin(client, rivera, password, formulary):
    sign_in(client, rivera.user, password)
    response = client.get("/admin/formulary/formularystate/import/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
