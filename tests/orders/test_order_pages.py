"""The prescriber's pages: patients, the order page's live checks, review and sign, orders, favourites."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.models import Favourite, Order, Patient
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
EVIL = '<img src=x onerror=alert(1)>'


@pytest.fixture
def as_rivera(client, rivera, password):
    sign_in(client, rivera.user, password)
    return client


@pytest.fixture
def lena(rivera, formulary):
    from formulary.models import AllergenGroup

    patient = Patient.objects.create(clinic=rivera.clinic, first_name="Lena", last_name="Fischer", date_of_birth=dt.date(1978, 1, 27),
                                     address_line1="5 Oak", city="Austin", state="TX", postal_code="78701")
    patient.allergies.set([AllergenGroup.objects.get(code="FRAGRANCE")])
    return patient


def new_draft(client, patient=None):
    response = client.post("/orders/new/", {"patient": str(patient.public_id)} if patient else {})
    assert response.status_code == 302
    return Order.objects.get(public_id=response["Location"].split("/")[2])


def form(patient, base="cream-base-pf", quantity="50", lines=(("lavender-oil", "0.5"),), exclude=(), **extra):
    data = {"patient": str(patient.public_id) if patient else "", "prep_count": "1", "prep-0-base": base, "prep-0-quantity": quantity,
            "prep-0-route": "topical", "prep-0-ing_count": str(len(lines)), "prep-0-refills": "1", "prep-0-directions": "Apply nightly.",
            "prep-0-exclude": list(exclude)}
    for i, (code, pct) in enumerate(lines):
        data[f"prep-0-ing-{i}-code"] = code
        data[f"prep-0-ing-{i}-percent"] = pct
    data.update(extra)
    return data


def codes_in(html: str) -> set[str]:
    return set(re.findall(r'data-code="([A-Z_]+)"', html))


def test_new_order_from_a_patient_prefills_exclusions(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    assert order.status == "draft" and order.patient == lena
    page = as_rivera.get(f"/orders/{order.public_id}/edit/").content.decode()
    assert re.search(r'name="prep-0-exclude" value="FRAGRANCE" checked', page)


def test_live_check_shows_what_the_api_would(as_rivera, api_as, rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    partial = as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert {"PATIENT_ALLERGY", "AW_NOT_MEASURED"} <= codes_in(partial)
    api = api_as(rivera.user).post("/api/v1/orders/validate/", {
        "patient_id": str(lena.public_id),
        "preparations": [{"base": "cream-base-pf", "quantity": "50", "unit": "g", "refills": 1, "directions": "Apply nightly.",
                          "ingredients": [{"ingredient": "lavender-oil", "percent": "0.5"}]}]}, format="json").json()
    assert codes_in(partial) == {f["code"] for f in api["preparations"][0]["findings"]}
    order.refresh_from_db()
    assert order.draft["preparations"][0]["ingredients"] == [{"ingredient": "lavender-oil", "percent": "0.5"}]  # autosaved


def test_bud_goes_from_14_to_35_days_with_a_preservative(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    before = as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena, lines=[("niacinamide", "4")], **{"prep-0-target_ph": "5.5"}),
                            HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'data-testid="bud-0"><strong>14 days', before)
    after = as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena, lines=[("niacinamide", "4"), ("pe9010", "1")],
                                                                    **{"prep-0-target_ph": "5.5"}), HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'data-testid="bud-0"><strong>35 days', after)


def test_field_errors_while_typing(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    partial = as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena, quantity="lots"), HTTP_HX_REQUEST="true").content.decode()
    assert "Write the quantity as a number, such as 50." in partial
    assert 'id="err-prep-0-quantity" hx-swap-oob="true">Write the quantity as a number' in partial  # beside the field too


def test_add_and_remove_rows(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    page = as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena), "action": "add_ing:0"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="prep-0-ing-1-code"' in page and 'id="order-form"' in page
    page = as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena), "action": "add_prep"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="prep-1-base"' in page
    order.refresh_from_db()
    assert len(order.draft["preparations"]) == 2
    assert order.draft["preparations"][1]["exclusions"]["allergen_groups"] == ["FRAGRANCE"]
    page = as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena), "action": "remove_ing:0:0"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="prep-0-ing-0-code"' not in page


def test_review_refuses_errors_and_signing_needs_the_attestation(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena), "action": "review"})
    review = as_rivera.get(f"/orders/{order.public_id}/review/").content.decode()
    assert "Fix the errors above before signing." in review and "Sign and submit" not in review
    as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena, lines=[("niacinamide", "4"), ("pe9010", "1")], **{"prep-0-target_ph": "5.5"}))
    review = as_rivera.get(f"/orders/{order.public_id}/review/").content.decode()
    assert "Sign and submit" in review and "Niacinamide 4 %" in review
    unsigned = as_rivera.post(f"/orders/{order.public_id}/review/", {}).content.decode()
    assert "Tick the attestation to sign." in unsigned
    order.refresh_from_db()
    assert order.status == "draft"
    signed = as_rivera.post(f"/orders/{order.public_id}/review/", {"attest": "on"}, follow=True)
    order.refresh_from_db()
    assert order.status == "submitted" and order.signed_at and order.preparations.count() == 1
    assert "is signed and on its way" in signed.content.decode()
    assert order.preparations.get().checked["beyond_use_days"] == 35


def test_other_clinic_cannot_open_pages(client, chen, password, rivera, lena, ready):
    order = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=lena)
    sign_in(client, chen.user, password)
    for url in (f"/orders/{order.public_id}/", f"/orders/{order.public_id}/edit/", f"/orders/{order.public_id}/review/",
                f"/patients/{lena.public_id}/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/orders/{order.public_id}/cancel/").status_code == 404
    assert "Fischer" not in client.get("/patients/").content.decode()
    assert order.number not in client.get("/orders/").content.decode()


def test_patient_form_refuses_a_future_birth_date_and_escapes_markup(as_rivera, ready):
    data = {"first_name": EVIL, "last_name": "<script>alert(1)</script>", "date_of_birth": "2999-01-01", "address_line1": "1 A",
            "city": "LA", "state": "CA", "postal_code": "90001"}
    page = as_rivera.post("/patients/new/", data).content.decode()
    assert "cannot be in the future" in page and Patient.objects.count() == 0
    data["date_of_birth"] = "1990-01-01"
    as_rivera.post("/patients/new/", data)
    listing = as_rivera.get("/patients/").content.decode()
    assert EVIL not in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing
    assert "<script>alert(1)</script>" not in listing


def test_patient_form_says_a_future_birth_date_with_every_other_error_at_once(as_rivera, ready):
    """Walk-through #38: over-long fields and a future date of birth are all said on the first try."""
    data = {"first_name": "A" * 300, "last_name": "B" * 300, "date_of_birth": "2099-05-05", "address_line1": "1 A",
            "city": "C" * 300, "state": "CA", "postal_code": "90001"}
    page = as_rivera.post("/patients/new/", data).content.decode()
    errors = dict(re.findall(r'<p class="field-error" id="err-(\w+)">([^<]*)</p>', page))
    assert errors.get("date_of_birth") == "The date of birth cannot be in the future.", errors
    assert {"first_name", "last_name", "city"} <= errors.keys()
    assert 'value="2099-05-05"' in page and Patient.objects.count() == 0  # what was typed stays; nothing saved


def test_patient_search_as_you_type(as_rivera, lena, ready):
    rows = as_rivera.get("/patients/?q=fisch", HTTP_HX_REQUEST="true").content.decode()
    assert "Fischer" in rows and "<html" not in rows
    assert "<td>Jan 27, 1978</td>" in rows and "1978-01-27" not in rows  # born as people write it (walk-through wk #6)
    assert "Fischer" in as_rivera.get("/patients/?q=1978-01-27", HTTP_HX_REQUEST="true").content.decode()
    assert "Fischer" not in as_rivera.get("/patients/?q=nobody", HTTP_HX_REQUEST="true").content.decode()


def test_the_order_forms_patient_choices_write_the_birth_date_as_people_do(as_rivera, lena, ready):
    """The picker read "Fischer, Lena · 1978-01-27" (walk-through wk #6)."""
    form = as_rivera.post("/orders/new/", {"patient": str(lena.public_id)}, follow=True).content.decode()
    assert "Fischer, Lena · Jan 27, 1978</option>" in form and "1978-01-27" not in form


def test_the_review_says_no_refills_in_words(as_rivera, lena, ready):
    """It read "Refills: 0" (a renewal renewed as it was shows it too: walk-through wk)."""
    for refills, words in (("0", 'data-testid="review-refills">No refills</p>'), ("1", 'data-testid="review-refills">Refills: 1</p>')):
        draft = new_draft(as_rivera, lena)
        as_rivera.post(f"/orders/{draft.public_id}/edit/", {**form(lena, lines=(("niacinamide", "4"), ("pe9010", "1"))),
                                                          "prep-0-refills": refills, "action": "review"})
        review = as_rivera.get(f"/orders/{draft.public_id}/review/").content.decode()
        assert words in review and "Refills: 0" not in review


def signed_order(rivera, lena):
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=lena)
    body = {"patient_id": lena.public_id, "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "route": "topical",
                                                            "refills": 1, "directions": "Apply nightly.", "ingredients": [], "exclusions": {}}]}
    from decimal import Decimal

    body["preparations"][0]["quantity"] = Decimal(50)
    return services.order_submit(user=rivera.user, body=body, source="web", draft=draft)


def test_list_detail_cancel_and_reorder(as_rivera, rivera, lena, ready):
    order = signed_order(rivera, lena)
    assert order.number in as_rivera.get("/orders/").content.decode()
    assert order.number in as_rivera.get(f"/orders/?patient={lena.public_id}&status=submitted").content.decode()
    assert order.number not in as_rivera.get("/orders/?status=approved").content.decode()
    detail = as_rivera.get(f"/orders/{order.public_id}/").content.decode()
    assert "Oil-in-water cream base" in detail and "signed" in detail
    # What was written, in words: the count left is its own line once dispensed, not a second "Refills 0 of 0".
    assert " · 1 refill written</p>" in detail and "Refills 1 of 1" not in detail
    response = as_rivera.post(f"/orders/{order.public_id}/reorder/")
    draft = Order.objects.get(public_id=response["Location"].split("/")[2])
    assert draft.status == "draft" and draft.patient == lena and draft.draft["preparations"][0]["base"] == "cream-base-pf"
    as_rivera.post(f"/orders/{order.public_id}/cancel/", {"reason": "Duplicate"})
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_answering_a_clarification_returns_the_order_to_submitted(as_rivera, rivera, lena, pharmacist, ready):
    order = signed_order(rivera, lena)
    services.order_request_clarification(order=order, by=pharmacist, question=f"Is 50 g enough? {EVIL}")
    detail = as_rivera.get(f"/orders/{order.public_id}/").content.decode()
    assert "The pharmacist asks" in detail and "Is 50 g enough?" in detail and EVIL not in detail
    as_rivera.post(f"/orders/{order.public_id}/answer/", {"answer": "Yes, for 4 weeks."})
    order.refresh_from_db()
    assert order.status == "submitted"
    assert list(order.events.values_list("kind", flat=True)) == ["draft_created", "signed", "clarification_requested", "clarification_answered"]


def test_favourites_save_and_start(as_rivera, rivera, chen, lena, ready):
    order = new_draft(as_rivera, lena)
    as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena, lines=[("niacinamide", "4")]), "action": "save_favourite:0",
                                                        "prep-0-fav_name": "Barrier cream", "prep-0-fav_visibility": "clinic"},
                   HTTP_HX_REQUEST="true")
    favourite = Favourite.objects.get(name="Barrier cream")
    assert favourite.visibility == "clinic" and favourite.preparation["ingredients"] == [{"ingredient": "niacinamide", "percent": "4"}]
    assert "Barrier cream" in as_rivera.get("/favourites/").content.decode()
    response = as_rivera.post("/orders/new/", {"favourite": str(favourite.public_id), "patient": str(lena.public_id)})
    started = Order.objects.get(public_id=response["Location"].split("/")[2])
    assert started.draft["preparations"][0]["ingredients"][0]["ingredient"] == "niacinamide" and started.patient == lena


def test_order_list_page_uses_constant_queries(as_rivera, rivera, lena, ready):
    signed_order(rivera, lena)
    as_rivera.get("/orders/")
    counts = []
    for target in (1, 50):
        while Order.objects.filter(clinic=rivera.clinic).count() < target:
            signed_order(rivera, lena)
        with CaptureQueriesContext(connection) as ctx:
            assert as_rivera.get("/orders/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_patient_list_page_uses_constant_queries(as_rivera, rivera, lena, ready):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            as_rivera.get("/patients/")
        return len(ctx.captured_queries)

    as_rivera.get("/patients/")
    one = count()
    for i in range(49):
        Patient.objects.create(clinic=rivera.clinic, first_name=f"P{i}", last_name="Many", date_of_birth=dt.date(1990, 1, 1),
                               address_line1="1", city="X", state="CA", postal_code="90001")
    assert one == count()


def check(client, order, patient, **kw):
    return client.post(f"/orders/{order.public_id}/edit/", form(patient, **kw), HTTP_HX_REQUEST="true").content.decode()


def test_a_blank_draft_shows_no_errors_until_a_field_is_touched(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    page = as_rivera.get(f"/orders/{order.public_id}/edit/").content.decode()
    form_html = page[page.index('id="order-form"'):]
    assert 'class="error"' not in form_html and re.search(r'class="field-error"[^>]*>[^<]', form_html) is None
    assert "Fill in the base, quantity and ingredients to see the checks." in page
    blank = check(as_rivera, order, lena, base="", quantity="", lines=[("", "")])
    assert "Choose a base." not in blank and "Enter the quantity" not in blank
    touched = as_rivera.post(f"/orders/{order.public_id}/edit/", {**form(lena, base="", quantity="", lines=[("", "")]),
                                                                 "touched": "prep-0-base,prep-0-quantity"}, HTTP_HX_REQUEST="true")
    assert "Choose a base." in touched.content.decode() and "Enter the quantity, such as 50." in touched.content.decode()


@pytest.mark.parametrize("typed, words", [
    ("fifty", "Write the quantity as a number, such as 50."),
    ("5E+1", "Write the quantity as a number, such as 50."),
    ("0", "The quantity must be more than 0."),
    ("30 mL", "Quantity is in g, not mL."),
])
def test_a_bad_quantity_is_refused_in_words(as_rivera, lena, ready, typed, words):
    order = new_draft(as_rivera, lena)
    page = check(as_rivera, order, lena, quantity=typed, lines=[("niacinamide", "4")])
    assert words in page and "Ensure" not in page and "valid number" not in page
    assert 'data-testid="can-sign"' not in page


@pytest.mark.parametrize("strength", ["4", "4%", "4 %", " 4.0 % "])
def test_strength_and_quantity_as_people_type_them(as_rivera, lena, ready, strength):
    order = new_draft(as_rivera, lena)
    page = check(as_rivera, order, lena, quantity="50 g", lines=[("Niacinamide", strength), ("pe9010", "1")],
                 **{"prep-0-target_ph": "5.5"})
    assert 'data-testid="can-sign"' in page, page
    order.refresh_from_db()
    assert order.draft["preparations"][0]["ingredients"][0]["ingredient"] == "niacinamide"  # the name was stored as its code


def test_ingredient_names_ambiguous_and_unknown_are_explained(as_rivera, lena, ready):
    order = new_draft(as_rivera, lena)
    page = check(as_rivera, order, lena, lines=[("lactobacillus", "1")])
    assert "Several ingredients match “lactobacillus”" in page and "Lactobacillus rhamnosus, live freeze-dried culture" in page
    page = check(as_rivera, order, lena, lines=[("inullin", "1")])
    assert "No ingredient in the formulary is called “inullin”. Did you mean Inulin?" in page
    order.refresh_from_db()
    assert order.draft["preparations"][0]["ingredients"][0]["ingredient"] == "inullin"  # what was typed is kept to correct
    page = as_rivera.get(f"/orders/{order.public_id}/edit/").content.decode()
    assert 'value="inullin"' in page


def test_the_picker_searches_names_synonyms_and_codes(as_rivera, ready):
    options = as_rivera.get("/orders/ingredients/?q=INUL", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-code="inulin"' in options and 'data-name="Inulin"' in options and "prebiotic" in options and " %" in options
    assert 'data-code="niacinamide"' in as_rivera.get("/orders/ingredients/?q=vitamin b3").content.decode()
    assert "No ingredient matches" in as_rivera.get("/orders/ingredients/?q=zzzz").content.decode()


def test_a_reorder_shows_quantities_as_written(as_rivera, rivera, lena, ready):
    order = signed_order(rivera, lena)
    response = as_rivera.post(f"/orders/{order.public_id}/reorder/")
    draft = Order.objects.get(public_id=response["Location"].split("/")[2])
    assert draft.draft["preparations"][0]["quantity"] == "50"
    edit = as_rivera.get(f"/orders/{draft.public_id}/edit/").content.decode()
    assert 'value="50"' in edit and "E+" not in edit
    review = as_rivera.get(f"/orders/{draft.public_id}/review/").content.decode()
    assert "50 g" in review and "E+" not in review
    detail = as_rivera.get(f"/orders/{order.public_id}/").content.decode()
    assert "50 g" in detail and "E+" not in detail


@pytest.mark.parametrize("quantity, strength", [("30 g", "4 %"), ("30g", "4%"), ("30.0 G", " 4.0 % ")])
def test_units_typed_with_the_number_are_not_doubled_on_the_review(as_rivera, api_as, rivera, lena, ready, quantity, strength):
    """Walk #1: "30 g" and "4 %" were stored as typed and the review the prescriber signs read "30 g g" and
    "Niacinamide 4 % %". The draft keeps the number alone; the review and the signed order read "30 g", "4 %"."""
    order = new_draft(as_rivera, lena)
    as_rivera.post(f"/orders/{order.public_id}/edit/", form(lena, quantity=quantity, lines=[("niacinamide", strength), ("pe9010", "1")],
                                                          **{"prep-0-target_ph": "5.5"}))
    order.refresh_from_db()
    prep = order.draft["preparations"][0]
    assert prep["quantity"] == "30" and prep["ingredients"][0]["percent"] == "4"
    review = as_rivera.get(f"/orders/{order.public_id}/review/").content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", review))
    assert "30 g g" not in text and "% %" not in text
    assert "30 g" in text and "Niacinamide 4 %" in text and "Sign and submit" in review
    # The API takes numbers: a unit in the number is refused beside its field, never stored.
    body = {"patient_id": str(lena.public_id), "preparations": [{"base": "cream-base-pf", "quantity": "30 g", "unit": "g",
            "ingredients": [{"ingredient": "niacinamide", "percent": "4 %"}]}]}
    answer = api_as(rivera.user).post("/api/v1/orders/validate/", body, format="json")
    assert answer.status_code == 400, answer.content
    errors = answer.json()
    assert "quantity" in str(errors) and "percent" in str(errors)


def test_over_long_directions_are_refused_beside_the_field_never_cut(as_rivera, lena, ready):
    """Walk #3/#17: directions were cut to 1000 characters before the check and so accepted silently."""
    order = new_draft(as_rivera, lena)
    long = "Apply a thin layer " + "y" * 1481
    page = check(as_rivera, order, lena, lines=[("niacinamide", "4"), ("pe9010", "1")],
                 **{"prep-0-target_ph": "5.5", "prep-0-directions": long})
    assert "At most 1000 characters (this has 1500)." in page and 'data-testid="can-sign"' not in page
    order.refresh_from_db()
    assert order.draft["preparations"][0]["directions"] == long  # kept as typed
    review = as_rivera.get(f"/orders/{order.public_id}/review/").content.decode()
    assert "Sign and submit" not in review
    assert as_rivera.post(f"/orders/{order.public_id}/review/", {"attest": "on"}).status_code == 200
    order.refresh_from_db()
    assert order.status == "draft"


def test_a_preparation_label_writes_strengths_as_people_do(as_rivera, lena, ready):
    """Walk #16/#22/#36: the verify page's previous orders and the renewal card read "Niacinamide 4.0 %"."""
    from orders.models import Preparation

    prep = Preparation(base_name="Cream", ingredients=[{"name": "Niacinamide", "percent": "4.0"},
                                                       {"name": "Lavender oil", "percent": "0.50"}])
    assert prep.label == "Cream with Niacinamide 4 %, Lavender oil 0.5 %"
