"""Master formulation records (USP <795> 7.2) through the API: proposed at submission, matched exactly (the quantity
scales, it is not part of the formulation), approved by a pharmacist only and never edited afterwards, required before
the order is approved (409 MFR_NOT_APPROVED), flagged for review by a formulary edit."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.utils import timezone

from formulary.interchange import formulary_export
from formulary.models import MasterFormulationRecord, Material
from orders.models import Order
from portal.numbers import day_text
from tests.builders import approve, approve_mfrs, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db

CREAM = [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 4}]
FIELDS_795 = ("name", "strength", "dosage_form", "route", "components", "container_closure", "equipment", "steps", "calculations",
              "physical_description", "beyond_use_days", "storage", "bud_source", "labelling", "qc", "rules_version")


def _approve_order(staff, order):
    warnings = sorted({f["code"] for p in order["preparations"] for f in p["findings"] if f["severity"] == "warning"})
    return staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": warnings}, format="json")


def test_same_formulation_shares_one_approved_version_and_a_changed_strength_proposes_a_draft(api_as, rivera, staff, ready, pharmacist):
    first = submit(api_as, rivera, first="Maya", quantity=50, ingredients=CREAM)
    proposed = first["preparations"][0]["mfr"]
    assert proposed["status"] == "draft" and proposed["version"] == 1

    refused = _approve_order(staff, first)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "MFR_NOT_APPROVED"
    assert f"{proposed['code']} v1, which is draft" in refused.json()["error"]["message"]
    assert Order.objects.get(public_id=first["id"]).status == "submitted"  # nothing changed

    approved = staff["pharmacist"].post(f"/api/v1/mfrs/{proposed['id']}/approve/").json()
    assert approved["status"] == "approved" and approved["approved_by"]["username"] == pharmacist.username and approved["approved_at"]
    assert _approve_order(staff, first).status_code == 200

    # Another patient, another quantity, the same formulation: linked at once to the approved version.
    second = submit(api_as, rivera, first="Ana", last="Ruiz", quantity=100, ingredients=CREAM)
    assert second["preparations"][0]["mfr"] == {**proposed, "status": "approved"}
    assert _approve_order(staff, second).status_code == 200

    # One strength changed: a new formulation, a new draft, and the order waits for the pharmacist.
    third = submit(api_as, rivera, first="Jo", last="Park", quantity=50,
                   ingredients=[{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 5}])
    new = third["preparations"][0]["mfr"]
    assert new["status"] == "draft" and new["id"] != proposed["id"] and new["code"] != proposed["code"]
    refused = _approve_order(staff, third)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "MFR_NOT_APPROVED"
    approve_mfrs(staff["pharmacist"], third)
    assert _approve_order(staff, third).status_code == 200
    assert MasterFormulationRecord.objects.count() == 2


def test_the_record_holds_every_field_of_795_filled_from_the_formulary_and_the_rules(api_as, rivera, staff, ready):
    order = submit(api_as, rivera, ingredients=CREAM, target_ph=5.0)
    mfr = staff["pharmacist"].get(f"/api/v1/mfrs/{order['preparations'][0]['mfr']['id']}/").json()
    for field in FIELDS_795:
        assert mfr[field] not in (None, "", [], {}), field
    assert mfr["missing"] == {}
    assert mfr["version"] == 1 and mfr["status"] == "draft" and mfr["approved_by"] is None
    names = [c["name"] for c in mfr["components"]]
    assert "cream base" in names[0].lower() and "Niacinamide" in " ".join(names)
    niacinamide = next(c for c in mfr["components"] if c["code"] == "niacinamide")
    assert niacinamide["strength"] == "4 % w/w" and niacinamide["amount_per_100"] == "4.000 g" and niacinamide["characteristics"]
    assert mfr["beyond_use_days"] == 35 and "USP <795>" in mfr["bud_source"] and "aqueous, preserved: 35 days" in mfr["bud_source"]
    assert mfr["rules_version"] == Order.objects.get(public_id=order["id"]).rules_version
    # Read as a sentence: "...; rules 2026.12.2; formulary ...)" (it said "rules version rules 2026.12.2") and the fill step
    # ends its container's words once ("seal.);" before: walk-through wk #15).
    assert f"“Beyond-use date and storage”; {mfr['rules_version']})" in mfr["bud_source"] and "rules version rules" not in mfr["bud_source"]
    assert not any(".)" in step for step in mfr["steps"])
    assert any(step.startswith("Order of addition:") for step in mfr["steps"])
    assert [t["test"] for t in mfr["qc"]] == ["pH", "Appearance", "Fill weight", "Yield"] and mfr["qc"][0]["expected"].startswith("4.50–5.50")
    assert mfr["calculations"]["overage_percent"] == "5.0" and mfr["calculations"]["minimum_weighable_g"]
    assert "quantity" not in json.dumps(mfr["identity"])  # the quantity scales: it is no part of the formulation


def test_only_a_pharmacist_approves_and_a_technician_changes_nothing(api_as, rivera, staff, ready):
    order = submit(api_as, rivera, ingredients=CREAM)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    refused = staff["tech"].post(f"/api/v1/mfrs/{mfr_id}/approve/")
    assert refused.status_code == 403 and "Only a pharmacist" in refused.json()["error"]["message"]
    assert MasterFormulationRecord.objects.get(public_id=mfr_id).status == "draft"
    assert api_as(rivera.user).get("/api/v1/mfrs/").status_code == 403  # prescribers do not read the pharmacy's records


def test_a_draft_lacking_required_fields_is_refused_naming_each(api_as, rivera, staff, ready):
    order = submit(api_as, rivera, ingredients=CREAM)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    blanked = staff["pharmacist"].patch(f"/api/v1/mfrs/{mfr_id}/", {"container_closure": " ", "labelling": "", "steps": []}, format="json")
    assert blanked.status_code == 200
    refused = staff["pharmacist"].post(f"/api/v1/mfrs/{mfr_id}/approve/")
    error = refused.json()["error"]
    assert refused.status_code == 422 and error["code"] == "mfr_incomplete"
    for words in ("the container and closure", "the labelling requirements", "the compounding steps"):
        assert words in error["message"]
    assert set(error["fields"]) == {"container_closure", "labelling", "steps"}
    assert MasterFormulationRecord.objects.get(public_id=mfr_id).status == "draft"
    # Completed, it is approved.
    staff["pharmacist"].patch(f"/api/v1/mfrs/{mfr_id}/", {"container_closure": "PP jar, lined cap", "labelling": "As the label.",
                                                          "steps": "Weigh.\nMix.\nFill."}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/mfrs/{mfr_id}/approve/").status_code == 200


def test_an_approved_version_is_never_edited_a_change_is_a_new_version(api_as, rivera, staff, ready):
    order = submit(api_as, rivera, ingredients=CREAM)
    v1 = order["preparations"][0]["mfr"]["id"]
    staff["pharmacist"].post(f"/api/v1/mfrs/{v1}/approve/")
    before = staff["pharmacist"].get(f"/api/v1/mfrs/{v1}/").json()
    refused = staff["pharmacist"].patch(f"/api/v1/mfrs/{v1}/", {"container_closure": "A paper bag"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "mfr_locked"
    assert "never edited" in refused.json()["error"]["message"]
    assert staff["pharmacist"].get(f"/api/v1/mfrs/{v1}/").json() == before
    assert staff["pharmacist"].post(f"/api/v1/mfrs/{v1}/approve/").status_code == 409

    v2 = staff["pharmacist"].post(f"/api/v1/mfrs/{v1}/revise/").json()
    assert v2["version"] == 2 and v2["status"] == "draft" and v2["code"] == before["code"]
    assert staff["pharmacist"].post(f"/api/v1/mfrs/{v1}/revise/").status_code == 409  # one draft at a time
    # Until v2 is approved, new orders follow v1; then v1 retires and they follow v2.
    assert submit(api_as, rivera, first="Bo", ingredients=CREAM)["preparations"][0]["mfr"]["version"] == 1
    staff["pharmacist"].patch(f"/api/v1/mfrs/{v2['id']}/", {"container_closure": "Airless pump, 50 g"}, format="json")
    assert staff["pharmacist"].post(f"/api/v1/mfrs/{v2['id']}/approve/").json()["status"] == "approved"
    assert staff["pharmacist"].get(f"/api/v1/mfrs/{v1}/").json()["status"] == "retired"
    later = submit(api_as, rivera, first="Cy", ingredients=CREAM)
    assert later["preparations"][0]["mfr"]["version"] == 2
    # An order that still points at the retired v1 is refused until it follows the approved version.
    refused = _approve_order(staff, order)
    assert refused.status_code == 409 and "which is retired" in refused.json()["error"]["message"]


def test_list_filters_by_ingredient_status_and_review(api_as, rivera, staff, ready):
    a = submit(api_as, rivera, ingredients=CREAM)
    submit(api_as, rivera, first="Bo", ingredients=[{"ingredient": "ceramide-np", "percent": 1}], base="ointment-base", target_ph=None)
    approve(staff, a)
    client = staff["pharmacist"]
    codes = [m["code"] for m in client.get("/api/v1/mfrs/?ingredient=niacinamide").json()["results"]]
    assert codes == [a["preparations"][0]["mfr"]["code"]]
    assert len(client.get("/api/v1/mfrs/?status=draft").json()["results"]) == 1
    assert client.get("/api/v1/mfrs/?ingredient=niacinamide&status=draft").json()["results"] == []
    bad = client.get("/api/v1/mfrs/?status=maybe")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_a_formulary_edit_to_a_material_flags_the_records_that_use_it(client, api_as, rivera, staff, ready, pharmacy_admin, password):
    uses = submit(api_as, rivera, ingredients=CREAM)
    other = submit(api_as, rivera, first="Bo", ingredients=[{"ingredient": "ceramide-np", "percent": 1}], base="ointment-base", target_ph=None)
    approve(staff, uses)
    sign_in(client, pharmacy_admin, password)
    material = Material.objects.get(code="niacinamide")
    component = material.components.get()
    data = {
        "code": material.code, "name": material.name, "category": material.category, "use_min_percent": "1", "use_max_percent": "8",
        "vehicles": json.dumps(material.vehicles), "ph_min": "5", "ph_max": "7", "viability": "", "active_fraction": "1",
        "storage": "room", "notes": "", "position": material.position, "is_active": "on", "physical_form": material.physical_form,
        "strength_basis": material.strength_basis,
        "components-TOTAL_FORMS": "1", "components-INITIAL_FORMS": "1", "components-MIN_NUM_FORMS": "0", "components-MAX_NUM_FORMS": "1000",
        "components-0-id": component.pk, "components-0-material": material.pk, "components-0-substance": component.substance_id,
        "components-0-percent": "100", "components-0-position": "0",
    }
    response = client.post(f"/admin/formulary/material/{material.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    flagged = staff["pharmacist"].get("/api/v1/mfrs/?needs_review=true").json()["results"]
    assert [m["code"] for m in flagged] == [uses["preparations"][0]["mfr"]["code"]]
    assert "Niacinamide was edited in the formulary" in flagged[0]["review_reason"]
    assert staff["pharmacist"].get(f"/api/v1/mfrs/{other['preparations'][0]['mfr']['id']}/").json()["needs_review"] is False


def test_a_formulary_import_that_changes_a_material_flags_its_records(client, api_as, rivera, staff, ready, pharmacy_admin, password):
    uses = submit(api_as, rivera, ingredients=CREAM)
    other = submit(api_as, rivera, first="Bo", ingredients=[{"ingredient": "ceramide-np", "percent": 1}], base="ointment-base", target_ph=None)
    sign_in(client, pharmacy_admin, password)
    data = formulary_export()
    same = client.post("/admin/formulary/formularystate/import/", {"file": io.BytesIO(json.dumps(data).encode())}, follow=True)
    assert same.status_code == 200 and "Imported formulary" in same.content.decode()  # imported, not a refused form
    assert not MasterFormulationRecord.objects.filter(needs_review=True).exists()  # nothing changed, nothing flagged
    next(m for m in data["materials"] if m["code"] == "niacinamide")["use_max_percent"] = 8
    changed = client.post("/admin/formulary/formularystate/import/", {"file": io.BytesIO(json.dumps(data).encode())}, follow=True)
    assert changed.status_code == 200 and "Imported formulary" in changed.content.decode()
    flagged = set(MasterFormulationRecord.objects.filter(needs_review=True).values_list("public_id", flat=True))
    assert {str(x) for x in flagged} == {uses["preparations"][0]["mfr"]["id"]}
    assert other["preparations"][0]["mfr"]["id"] not in {str(x) for x in flagged}


def test_over_long_text_is_refused_beside_its_field_never_cut(client, api_as, rivera, staff, ready, pharmacist, password):
    """Walk #29: a 20,000-character physical description was saved cut to 4,000 with "saved.". Now the page and the API
    refuse it with the portal's words beside the field, keep what was typed, and change nothing."""
    order = submit(api_as, rivera, ingredients=CREAM)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    before = staff["pharmacist"].get(f"/api/v1/mfrs/{mfr_id}/").json()
    refused = staff["pharmacist"].patch(f"/api/v1/mfrs/{mfr_id}/", {"physical_description": "w" * 20000, "steps": ["s" * 1001, "Mix."]},
                                        format="json")
    assert refused.status_code == 400
    fields = refused.json()["error"]["fields"]
    assert fields["physical_description"] == ["At most 4000 characters (this has 20000)."]
    assert fields["steps"] == ["Step 1: at most 1000 characters (this has 1001)."]
    assert staff["pharmacist"].get(f"/api/v1/mfrs/{mfr_id}/").json() == before

    sign_in(client, pharmacist, password)
    long_text = "A smooth white cream " + "x" * 19979
    saved = client.post(f"/pharmacy/mfrs/{mfr_id}/edit/", {"container_closure": "PP jar", "equipment": "Balance", "steps": "Weigh.\nMix.",
                                                          "physical_description": long_text, "bud_source": "USP 795",
                                                          "labelling": "As the label.", "notes": ""}, follow=True)
    page = saved.content.decode()
    assert "At most 4000 characters (this has 20000)." in page and 'id="err-physical_description"' in page
    assert long_text in page  # kept as typed
    assert " saved." not in page
    mfr = MasterFormulationRecord.objects.get(public_id=mfr_id)
    assert mfr.physical_description == before["physical_description"] and mfr.container_closure != "PP jar"
    ok = client.post(f"/pharmacy/mfrs/{mfr_id}/edit/", {"container_closure": "PP jar", "equipment": "Balance", "steps": "Weigh.\nMix.",
                                                       "physical_description": "w" * 4000, "bud_source": "USP 795",
                                                       "labelling": "As the label.", "notes": ""}, follow=True)
    assert " saved." in ok.content.decode()
    assert MasterFormulationRecord.objects.get(public_id=mfr_id).physical_description == "w" * 4000


def test_a_flagged_record_is_cleared_once_by_a_pharmacist_with_what_was_checked(client, api_as, rivera, staff, ready, pharmacist,
                                                                                technician, password):
    """The review note is never cut (over 500 characters: refused with the count, nothing changed); the note says when in
    the portal's words; a second post (a double click) adds no second review."""
    import re

    from formulary import mfrs
    from portal.errors import Forbidden, ServiceError

    order = submit(api_as, rivera, ingredients=CREAM)
    mfr = MasterFormulationRecord.objects.get(public_id=order["preparations"][0]["mfr"]["id"])
    assert mfrs.mfrs_flag_for_review(item_codes=["niacinamide"], reason="Niacinamide was edited.") == 1
    mfr.refresh_from_db()
    with pytest.raises(Forbidden):
        mfrs.mfr_review_clear(mfr=mfr, by=technician, note="Looked.")
    with pytest.raises(ServiceError) as refused:
        mfrs.mfr_review_clear(mfr=mfr, by=pharmacist, note="n" * 501)
    assert refused.value.fields == {"note": ["At most 500 characters (this has 501)."]}
    mfr.refresh_from_db()
    assert mfr.needs_review is True and "Reviewed" not in mfr.notes

    sign_in(client, pharmacist, password)
    page = client.post(f"/pharmacy/mfrs/{mfr.public_id}/review/", {"note": "Strength range unchanged."}, follow=True).content.decode()
    assert "reviewed: it stands as it is" in page
    mfr.refresh_from_db()
    assert mfr.needs_review is False and mfr.review_reason == ""
    assert re.search(r"Reviewed [A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2} \S+ by .+: Strength range unchanged\.", mfr.notes), mfr.notes
    again = client.post(f"/pharmacy/mfrs/{mfr.public_id}/review/", {"note": "Again."}, follow=True).content.decode()
    assert "not flagged for review" in again
    mfr.refresh_from_db()
    assert mfr.notes.count("Reviewed") == 1


def test_the_record_pages_name_the_route_as_people_say_it(client, api_as, rivera, staff, ready, pharmacist, password):
    """The record keeps the route's code (what formulations are matched on, and the API's `route`); its pages say
    "Topical (skin)", as the order does, never the code "topical"."""
    order = submit(api_as, rivera, ingredients=CREAM)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    assert staff["pharmacist"].get(f"/api/v1/mfrs/{mfr_id}/").json()["route"] == "topical"
    v2 = staff["pharmacist"].post(f"/api/v1/mfrs/{mfr_id}/approve/") and staff["pharmacist"].post(f"/api/v1/mfrs/{mfr_id}/revise/").json()
    sign_in(client, pharmacist, password)
    for url in (f"/pharmacy/mfrs/{mfr_id}/", f"/pharmacy/mfrs/{mfr_id}/print/"):
        page = client.get(url).content.decode()
        assert '<dd data-testid="mfr-route">Topical (skin)</dd>' in page, url
    compare = client.get(f"/pharmacy/mfrs/{mfr_id}/compare/{v2['id']}/").content.decode()
    assert "<div>Topical (skin)</div>" in compare and "<div>topical</div>" not in compare


def test_the_printable_copy_writes_its_moments_as_people_read_them(client, api_as, rivera, staff, ready, pharmacist, password):
    """The printed record said 'approved ... on 2026-12-01 12:40 EST' and 'Printed 2026-12-01 12:44' (walk-through wk #5)."""
    order = submit(api_as, rivera, ingredients=CREAM)
    mfr_id = order["preparations"][0]["mfr"]["id"]
    staff["pharmacist"].post(f"/api/v1/mfrs/{mfr_id}/approve/")
    sign_in(client, pharmacist, password)
    page = client.get(f"/pharmacy/mfrs/{mfr_id}/print/").content.decode()
    today = day_text(timezone.localdate())
    assert re.search(rf"approved by [^<]+ on {re.escape(today)} \d{{2}}:\d{{2}} [A-Z]{{3}}", page), page
    assert re.search(rf"Printed {re.escape(today)} \d{{2}}:\d{{2}}", page)
    assert timezone.localdate().isoformat() not in page
