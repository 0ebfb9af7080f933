"""F5 (issue 17, finding 5): a NUL character in a page form answered 500 (PostgreSQL cannot store it),
then a plain 400 page from a middleware. Now each page form checks its own fields (portal.form_input):
the page comes back (200) with the error beside the field and what was typed (without the NUL), nothing
is saved, and one log line without the value is written. A form that does not check its fields is still
refused by the middleware (the last line of defence)."""

import logging

import pytest
from django.test import Client

from formulary.models import StockLot
from fulfillment.models import Job, Shipment, WebhookEndpoint
from orders.models import Favourite, Order, OrderEvent, Patient
from orders.services import favourite_save
from portal.form_input import NUL_MESSAGE
from portal.models import ApiToken
from tests.builders import claimed_job, record_body, released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
TYPED = "Apply\x00 sparingly zq7"  # what the person typed, with a NUL in it
SHOWN = "Apply sparingly zq7"  # what the page shows again


def _state():
    return (sorted(Order.objects.values_list("public_id", "status", "version", "draft", "rush", "rush_reason")),
            sorted(Favourite.objects.values_list("name", flat=True)), Patient.objects.count(), WebhookEndpoint.objects.count(),
            ApiToken.objects.count(), OrderEvent.objects.count(), StockLot.objects.count(), Shipment.objects.count(),
            sorted(Job.objects.values_list("status", flat=True)))


@pytest.fixture
def doctor(client, rivera, password):
    return sign_in(client, rivera.user, password)


@pytest.fixture
def orders(api_as, rivera, staff, ready):
    """A submitted order (cancel, rush, clarify, reject, beyond-use date) and one awaiting rivera's answer."""
    submitted = Order.objects.get(public_id=submit(api_as, rivera)["id"])
    asked = Order.objects.get(public_id=submit(api_as, rivera, first="Ada", last="Moss")["id"])
    assert staff["pharmacist"].post(f"/api/v1/orders/{asked.public_id}/request-clarification/",
                                    {"question": "Which strength did you mean?"}, format="json").status_code == 200
    return {"submitted": submitted, "asked": asked}


def _refused(response, typed_shown=SHOWN):
    text = response.content.decode()
    assert response.status_code == 200, response.status_code
    assert NUL_MESSAGE in text, "the error is on the page"
    assert "field-error" in text, "beside a field"
    if typed_shown:
        assert typed_shown in text, "what was typed is kept"
    assert "\x00" not in text
    return text


def test_each_prescriber_form_shows_the_error_beside_the_field_and_keeps_what_was_typed(doctor, orders, rivera, caplog):
    draft = Order.objects.get(public_id=doctor.post("/orders/new/").url.split("/")[2])
    favourite = favourite_save(prescriber=rivera, name="Night cream", visibility="mine",
                               preparation={"base": "cream-base-pf", "ingredients": []})
    submitted, asked = orders["submitted"], orders["asked"]
    edit = f"/orders/{draft.public_id}/edit/"
    base = {"prep_count": "1", "prep-0-base": "cream-base-pf", "prep-0-ing_count": "1", "action": "check"}
    patient = {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "state": "CA", "address_line1": "1 Main St",
               "city": "Oakland", "postal_code": "94601"}
    forms = [
        (edit, {**base, "prep-0-directions": TYPED}, 'id="err-prep-0-directions"'),
        (edit, {**base, "prep-0-ing-0-code": TYPED}, 'id="err-prep-0-ing-0-code"'),
        (edit, {**base, "clinical_difference_note": TYPED}, 'id="err-clinical_difference_note"'),
        (edit, {**base, "action": "save_favourite:0", "prep-0-fav_name": TYPED}, 'id="err-prep-0-fav_name"'),
        ("/patients/new/", {**patient, "first_name": TYPED}, 'id="err-first_name"'),
        ("/patients/new/", {**patient, "notes": TYPED}, "field-error"),
        (f"/patients/{submitted.patient.public_id}/edit/", {**patient, "city": TYPED}, 'id="err-city"'),
        ("/webhooks/", {"url": "http://127.0.0.1:9/" + TYPED, "event_types": "order.status_changed"}, 'id="err-url"'),
        ("/webhooks/", {"url": "http://127.0.0.1:9/h", "event_types": "order.status_changed", "description": TYPED}, 'id="err-description"'),
        ("/accounts/security/tokens/", {"name": TYPED}, 'id="err-token-name"'),
        (f"/orders/{asked.public_id}/answer/", {"answer": TYPED}, 'id="err-answer"'),
        (f"/orders/{submitted.public_id}/cancel/", {"reason": TYPED}, 'id="err-cancel-reason"'),
        (f"/orders/{submitted.public_id}/rush/", {"reason": TYPED}, 'id="err-rush-reason"'),
        (f"/favourites/{favourite.public_id}/rename/", {"name": TYPED}, f'id="err-rename-{favourite.public_id}"'),
    ]
    before = _state()
    with caplog.at_level(logging.WARNING):
        for url, data, beside in forms:
            text = _refused(doctor.post(url, data))
            assert beside in text, (url, beside)
            # the htmx check of the order page swaps the whole form in, so the error shows there too
        response = doctor.post(edit, {**base, "prep-0-directions": TYPED}, HTTP_HX_REQUEST="true")
        assert response["HX-Retarget"] == "#order-form" and 'id="err-prep-0-directions"' in _refused(response)
    assert _state() == before  # nothing saved anywhere: no draft change, patient, endpoint, token, event, rename
    lines = [r.getMessage() for r in caplog.records if "NUL character" in r.getMessage()]
    assert len(lines) == len(forms) + 1 and not any("\x00" in line for line in lines)


def test_the_amended_review_keeps_the_note(doctor, orders, rivera):
    asked = orders["asked"]
    assert doctor.post(f"/orders/{asked.public_id}/amend/").status_code == 302
    before = _state()
    text = _refused(doctor.post(f"/orders/{asked.public_id}/review/", {"note": TYPED, "attest": "on"}))
    assert 'id="err-note"' in text and "Nothing was signed" in text
    assert _state() == before


def test_each_pharmacy_form_shows_the_error_beside_the_field(api_as, rivera, staff, orders, pharmacist, technician, password):
    submitted = orders["submitted"]
    assert api_as(rivera.user).post(f"/api/v1/orders/{submitted.public_id}/rush/", {"reason": "Travels Friday."},
                                    format="json").status_code == 200
    pharmacy = sign_in(Client(), pharmacist, password)
    tech = sign_in(Client(), technician, password)
    _, compounding = claimed_job(api_as, rivera, staff, first="Cy", last="Reed")
    _, ready_job = released_job(api_as, rivera, staff, first="Di", last="Vale")
    _, qc_job = claimed_job(api_as, rivera, staff, first="Ed", last="Wynn")
    assert staff["tech"].post(f"/api/v1/jobs/{qc_job['id']}/record/", record_body(qc_job["id"]), format="json").status_code == 200
    plan_key = tech.get(f"/pharmacy/jobs/{compounding['id']}/").content.decode().split('name="grams-', 1)[1].split('"', 1)[0]
    lot = {"item": "material:niacinamide", "lot_number": "L-1", "supplier": "Acme", "quantity": "500", "expires_on": "2030-01-01"}
    forms = [
        (pharmacy, f"/pharmacy/verify/{submitted.public_id}/clarify/", {"question": TYPED}, 'id="err-question"'),
        (pharmacy, f"/pharmacy/verify/{submitted.public_id}/reject/", {"reason": TYPED}, 'id="err-reason"'),
        (pharmacy, f"/pharmacy/rush/{submitted.public_id}/decline/", {"reason": TYPED}, f'id="err-decline-{submitted.public_id}"'),
        (pharmacy, f"/pharmacy/verify/{submitted.public_id}/beyond-use-date/", {"preparation": "1", "days": "60", "citation": TYPED,
                                                                    "reason": "Stability study."}, "field-error"),
        (tech, "/formulary/stock/receive/", {**lot, "supplier": TYPED}, 'data-field="supplier"'),
        (tech, f"/pharmacy/jobs/{compounding['id']}/record/", {f"grams-{plan_key}": "1\x002", "actual_yield_grams": "50"}, "field-error"),
        (tech, f"/pharmacy/jobs/{qc_job['id']}/qc/", {"ph": "5\x00.0", "fill_weight": "50", "appearance_ok": "yes"}, "field-error"),
        (pharmacy, f"/pharmacy/jobs/{compounding['id']}/hold/", {"reason": TYPED}, 'id="err-hold-reason"'),
        (tech, f"/pharmacy/jobs/{ready_job['id']}/ship/", {"jobs": [ready_job["id"]], "carrier": "simulated", "service": "Ground",
                                                          "tracking_number": TYPED}, 'id="err-tracking_number"'),
    ]
    before = _state()
    for who, url, data, beside in forms:
        shown = SHOWN if TYPED in data.values() else None
        text = _refused(who.post(url, data, follow=True), typed_shown=shown)  # the stock form comes back by redirect
        assert beside in text, (url, beside)
    assert _state() == before


def test_a_form_that_does_not_check_its_fields_is_still_refused_by_the_middleware(client, rivera):
    """The last line of defence: the sign-in form (Django's own) is not marked, so a NUL is a plain 400."""
    response = client.post("/accounts/login/", {"username": "riv\x00era", "password": "x"})
    assert response.status_code == 400 and "The field “username” contains a NUL character" in response.content.decode()
    response = client.get("/orders/?status=a\x00b")  # refused before anything else, even the sign-in redirect
    assert response.status_code == 400 and "NUL" in response.content.decode()


def test_the_patient_status_page_keeps_its_one_plain_answer(client):
    """The patient's page answers every malformed link or date the same way (its own rule)."""
    assert client.post("/s/abc/", {"date_of_birth": "a\x00b"}).status_code == 404


CHECKED_ROUTES = {
    "order-new", "order-edit", "order-review", "order-cancel", "order-rush", "order-answer", "order-discard", "patient-new",
    "patient-edit", "favourite-rename", "favourite-delete", "webhooks", "webhook", "token-create", "verification-approve",
    "verification-reject", "verification-clarify", "verification-bud", "rush-accept", "rush-decline", "job-claim", "job-release",
    "job-worksheet", "job-record", "job-qc", "job-verify", "job-ship", "job-hold", "job-resume", "stock-receive",
    "verification-mfr", "mfr-edit", "mfr-review", "mfr-approve", "mfr-retire", "mfr-revise",
    "preparation-refill", "preparation-renewal", "renewal-approve", "renewal-change", "renewal-deny", "patient-status",
}


def test_the_views_that_check_their_own_fields_are_the_ones_tested_here():
    """A view marked @form_input_checked is let through by the middleware: it must be one whose forms the tests
    above (and tests/security/test_f07_malformed_ids_in_forms.py) post NUL and malformed ids to."""
    from django.urls import get_resolver

    def walk(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns)
            elif getattr(p.callback, "form_input_checked", False):
                yield p.name

    assert set(walk(get_resolver().url_patterns)) == CHECKED_ROUTES


HOSTILE = ["12\x00", "abc", "9" * 40, "\x00"]


def test_hostile_values_in_every_field_of_every_checked_form_never_answer_500(doctor, orders, rivera, api_as, staff, pharmacist,
                                                                              password):
    """Every field of each checked form, in turn, holding each hostile value: never a 500, nothing half-saved."""
    pharmacy = sign_in(Client(), pharmacist, password)
    submitted, asked = orders["submitted"], orders["asked"]
    favourite = favourite_save(prescriber=rivera, name="Night cream", visibility="mine",
                               preparation={"base": "cream-base-pf", "ingredients": []})
    draft = Order.objects.get(public_id=doctor.post("/orders/new/").url.split("/")[2])
    forms = [
        (doctor, f"/orders/{draft.public_id}/edit/", {"prep_count": "1", "prep-0-base": "cream-base-pf", "prep-0-ing_count": "1",
                                                      "prep-0-ing-0-code": "niacinamide", "prep-0-ing-0-percent": "4",
                                                      "prep-0-quantity": "50", "prep-0-refills": "1", "patient": "",
                                                      "encounter_state": "CA", "action": "check", "touched": ""}),
        (doctor, "/orders/new/", {"favourite": str(favourite.public_id), "patient": "", "from": "favourites"}),
        (doctor, "/patients/new/", {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12", "state": "CA",
                                    "address_line1": "1 Main St", "city": "Oakland", "postal_code": "94601", "sex": "female",
                                    "allergies": "FRAGRANCE"}),
        (doctor, "/webhooks/", {"url": "http://127.0.0.1:9/h", "event_types": "order.status_changed", "payload_format": "json",
                                "description": "EHR"}),
        (doctor, f"/orders/{asked.public_id}/answer/", {"answer": "Four percent."}),
        (doctor, f"/orders/{submitted.public_id}/rush/", {"reason": "Travels Friday."}),
        (doctor, f"/favourites/{favourite.public_id}/rename/", {"name": "Day cream"}),
        (pharmacy, f"/pharmacy/verify/{submitted.public_id}/beyond-use-date/", {"preparation": "1", "days": "60", "citation": "Study",
                                                                                "reason": "Data.", "action": "assign"}),
        (pharmacy, f"/pharmacy/verify/{submitted.public_id}/approve/", {"acknowledge": "PRESERVATIVE_SYSTEM"}),
    ]
    for who, url, good in forms:
        for field in good:
            for bad in HOSTILE:
                before = _state()
                response = who.post(url, {**good, field: bad})
                assert response.status_code < 500, (url, field, bad, response.status_code)
                assert "\x00" not in response.content.decode()
                if "\x00" in bad:
                    assert _state() == before, (url, field, bad)  # a NUL is never saved anywhere


def test_the_master_formulation_record_forms(api_as, rivera, staff, pharmacist, password, ready):
    """The draft record's fields and the review note come back beside their field; the buttons act on nothing."""
    from formulary.models_mfr import MasterFormulationRecord

    order = submit(api_as, rivera, ingredients=[{"ingredient": "niacinamide", "percent": 3}, {"ingredient": "pe9010", "percent": 1}])
    mfr = MasterFormulationRecord.objects.get(public_id=order["preparations"][0]["mfr"]["id"])
    page = sign_in(Client(), pharmacist, password)
    here = f"/pharmacy/mfrs/{mfr.public_id}/"
    before = list(MasterFormulationRecord.objects.values_list("status", "container_closure", "equipment", "notes", "version"))
    response = page.post(f"{here}edit/", {"container_closure": "PP jar", "equipment": TYPED, "steps": "Weigh.\nMix.",
                                          "notes": "Kept note"}, follow=True)
    text = _refused(response)
    assert 'id="err-equipment"' in text and "PP jar" in text and "Kept note" in text
    for action in ("approve", "retire", "revise"):
        response = page.post(f"{here}{action}/", {"next": "x\x00"}, follow=True)
        assert response.status_code == 200 and "not one of ours" in response.content.decode(), action
    response = page.post(f"/pharmacy/verify/{order['id']}/master-formula/", {"preparation": "1\x00", "mfr": str(mfr.public_id)},
                         follow=True)
    assert response.status_code == 200 and "not one of ours" in response.content.decode()
    assert list(MasterFormulationRecord.objects.values_list("status", "container_closure", "equipment", "notes", "version")) == before


def test_the_refill_and_renewal_forms_check_their_fields(client, api_as, rivera, staff, ready, pharmacist, password):
    """The preparation page's refill and renewal forms, the prescriber's renewal decision and the patient status page's
    refill, renewal and pause forms (issue 17 follow-up): a NUL beside its field or said plainly, a preparation that is
    not ours refused, nothing asked, never a 500."""
    from orders.models import RefillRequest, RenewalRequest
    from orders.patient_links import link_token, patient_link_current

    from tests.fulfillment.test_refills import ship

    order, job = released_job(api_as, rivera, staff, refills=1)
    ship(staff, job["id"], "SIM-NUL-FORM-01")  # shipped: the pharmacist may fill early, so the form is on the page
    prep = order["preparations"][0]["id"]
    from django.urls import reverse

    pharmacy = sign_in(Client(), pharmacist, password)
    refill_url, renewal_url = reverse("preparation-refill", args=[prep]), reverse("preparation-renewal", args=[prep])
    before = (RefillRequest.objects.count(), RenewalRequest.objects.count(), OrderEvent.objects.count())

    page = _refused(pharmacy.post(refill_url, {"note": TYPED, "override_reason": ""}))
    assert 'id="err-note"' in page
    page = _refused(pharmacy.post(refill_url, {"note": "", "override_reason": TYPED}))
    assert 'id="err-override_reason"' in page
    renewal = pharmacy.post(renewal_url, {"note": TYPED}, follow=True)
    assert renewal.status_code == 200 and NUL_MESSAGE in renewal.content.decode()

    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"})
    for body, said in (({"action": "refill", "preparation": prep, "note": TYPED}, NUL_MESSAGE),
                       ({"action": "refill", "preparation": "12\x00", "note": ""}, "Choose one of the preparations"),
                       ({"action": "renewal", "preparation": "abc"}, "Choose one of the preparations"),
                       ({"action": "pause_auto", "preparation": "9" * 40}, "Choose one of the preparations"),
                       ({"action": "resume_auto", "preparation": prep, "x\x00": "1"}, "not one of ours")):
        answer = client.post(f"/s/{token}/", body, follow=True)
        assert answer.status_code == 200 and said in answer.content.decode(), body
        assert "\x00" not in answer.content.decode()
    assert (RefillRequest.objects.count(), RenewalRequest.objects.count(), OrderEvent.objects.count()) == before
