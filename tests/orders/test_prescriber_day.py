"""The prescriber's day, through the pages: the home (what needs them, drafts with discard, recent orders with each
preparation's status and parcel, the clinic's favourites), favourites (rename, delete, search, a new patient's
allergies, a withdrawn ingredient marked), the patient page, and the printable order read back."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from orders import services
from orders.models import Favourite, Order, Patient
from tests.builders import approve, pdf_text, released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_rivera(client, rivera, password):
    sign_in(client, rivera.user, password)
    return client


@pytest.fixture
def lena(rivera, formulary):
    from formulary.models import AllergenGroup

    patient = Patient.objects.create(clinic=rivera.clinic, first_name="Lena", last_name="Fischer", date_of_birth=dt.date(1978, 1, 27),
                                     address_line1="5 Oak", city="Austin", state="TX", postal_code="78701")
    patient.allergies.set(AllergenGroup.objects.filter(code__in=["FRAGRANCE", "PARABENS"]))
    return patient


@pytest.fixture
def james(rivera, formulary):
    from formulary.models import AllergenGroup

    patient = Patient.objects.create(clinic=rivera.clinic, first_name="James", last_name="Okoro", date_of_birth=dt.date(1984, 9, 3),
                                     address_line1="9 Elm", city="Brooklyn", state="NY", postal_code="11201")
    patient.allergies.set(AllergenGroup.objects.filter(code__in=["TREE_NUTS"]))
    return patient


def test_home_shows_what_needs_the_prescriber_drafts_and_recent_orders(as_rivera, api_as, rivera, chen, lena, staff, pharmacist,
                                                                        ready):
    asked = Order.objects.get(public_id=submit(api_as, rivera, first="Ada", last="Question")["id"])
    services.order_request_clarification(order=asked, by=pharmacist, question="Is 50 g enough for 8 weeks?")
    refused = Order.objects.get(public_id=submit(api_as, rivera, first="Rae", last="Refused")["id"])
    from orders.transitions import order_transition

    order_transition(order=refused, to="rejected", by=pharmacist, message="Out of stock of the base until March.", kind="rejected")
    shipped, job = released_job(api_as, rivera, staff)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-HOME-0001"}, format="json")
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=lena)
    submit(api_as, chen, first="Other", last="Clinic")

    home = as_rivera.get("/prescriber/").content.decode()
    needs = home[home.index('data-testid="needs-you"'):home.index('data-testid="drafts"')]
    assert asked.number in needs and "Is 50 g enough for 8 weeks?" in needs and "Question from the pharmacist" in needs
    assert refused.number in needs and "Out of stock of the base until March." in needs
    assert draft.number in home[home.index('data-testid="drafts"'):] and "Lena Fischer" in home
    recent = home[home.index('data-testid="recent-orders"'):]
    assert "SIM-HOME-0001" in recent and "Shipped" in recent and "50 g" in recent
    assert 'data-testid="new-order"' in home and "Clinic" not in recent.split("Your state licences")[0].replace("clinic", "")

    response = as_rivera.post(f"/orders/{draft.public_id}/discard/")
    assert response.status_code == 302
    assert not Order.objects.filter(pk=draft.pk).exists()
    from orders.models import OrderHistory

    assert OrderHistory.objects.filter(pgh_obj_id=draft.pk, pgh_label="delete").exists()  # the history keeps what it held
    after = as_rivera.get("/prescriber/").content.decode()
    assert f"Draft {draft.number} is discarded." in after and draft.number not in after[after.index('data-testid="drafts"'):]
    assert draft.number not in as_rivera.get("/orders/").content.decode()
    assert as_rivera.post(f"/orders/{asked.public_id}/discard/").status_code == 302  # a signed order is not a draft
    asked.refresh_from_db()
    assert asked.status == "clarification_requested"


def test_another_clinic_cannot_discard_print_or_see_the_patient(client, chen, password, rivera, lena, api_as, ready):
    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=lena)
    signed = Order.objects.get(public_id=submit(api_as, rivera)["id"])
    sign_in(client, chen.user, password)
    assert client.post(f"/orders/{draft.public_id}/discard/").status_code == 404
    assert client.get(f"/patients/{lena.public_id}/").status_code == 404
    assert client.get(f"/orders/{signed.public_id}/print/").status_code == 404
    assert client.get(f"/orders/{signed.public_id}/print.pdf").status_code == 404
    draft.refresh_from_db()
    assert draft.status == "draft"


def favourite(rivera, lena, **prep):
    return services.favourite_save(prescriber=rivera, name="Barrier cream", visibility="clinic", preparation={
        "base": "cream-base-pf", "quantity": "50", "unit": "g", "route": "topical",
        "ingredients": [{"ingredient": "niacinamide", "percent": "4"}, {"ingredient": "lavender-oil", "percent": "0.5"}],
        "exclusions": {"allergen_groups": [g.code for g in lena.allergies.all()], "preservative_free": True}, **prep})


def test_a_favourite_started_for_another_patient_takes_their_allergies(as_rivera, rivera, lena, james, ready):
    saved = favourite(rivera, lena)
    response = as_rivera.post("/orders/new/", {"favourite": str(saved.public_id), "patient": str(james.public_id)})
    started = Order.objects.get(public_id=response["Location"].split("/")[2])
    exclusions = started.draft["preparations"][0]["exclusions"]
    assert exclusions == {"allergen_groups": ["TREE_NUTS"], "preservative_free": True}
    page = as_rivera.get(f"/orders/{started.public_id}/edit/").content.decode()
    assert re.search(r'name="prep-0-exclude" value="TREE_NUTS" checked', page)
    assert not re.search(r'name="prep-0-exclude" value="FRAGRANCE" checked', page)


def test_a_withdrawn_ingredient_is_marked_not_dropped(as_rivera, rivera, lena, ready):
    from formulary.models import FormularyState, Material
    from formulary.rules_facts_builder import formulary_facts_forget

    saved = favourite(rivera, lena)
    Material.objects.filter(code="lavender-oil").update(is_active=False)
    FormularyState.objects.update(revision=FormularyState.objects.get().revision + 1)
    formulary_facts_forget()
    assert "Lavender essential oil 0.5 % (withdrawn)" in as_rivera.get("/favourites/").content.decode()
    response = as_rivera.post("/orders/new/", {"favourite": str(saved.public_id), "patient": str(lena.public_id)})
    started = Order.objects.get(public_id=response["Location"].split("/")[2])
    page = as_rivera.get(f"/orders/{started.public_id}/edit/").content.decode()
    assert 'data-testid="withdrawn-line"' in page and 'value="Lavender essential oil"' in page
    assert "Lavender essential oil was withdrawn from the formulary: choose another ingredient or remove this line." in page
    assert [line["ingredient"] for line in started.draft["preparations"][0]["ingredients"]] == ["niacinamide", "lavender-oil"]


def test_favourites_rename_delete_and_search(as_rivera, client, rivera, chen, lena, password, ready):
    saved = favourite(rivera, lena)
    services.favourite_save(prescriber=rivera, name="Scalp tonic", preparation={"base": "scalp-solution-base-pf", "ingredients": [
        {"ingredient": "inulin", "percent": "1"}]})
    assert "Scalp tonic" not in as_rivera.get("/favourites/?q=niacinamide", HTTP_HX_REQUEST="true").content.decode()
    assert "Scalp tonic" in as_rivera.get("/favourites/?q=inulin", HTTP_HX_REQUEST="true").content.decode()
    assert "Barrier" in as_rivera.get("/favourites/?q=barrier").content.decode()
    as_rivera.post(f"/favourites/{saved.public_id}/rename/", {"name": "Night barrier cream"})
    saved.refresh_from_db()
    assert saved.name == "Night barrier cream"
    refused = as_rivera.post(f"/favourites/{saved.public_id}/rename/", {"name": "Scalp tonic"}, follow=True).content.decode()
    assert "You already have a favourite called “Scalp tonic”." in refused
    as_rivera.post(f"/favourites/{saved.public_id}/delete/")
    assert not Favourite.objects.filter(pk=saved.pk).exists()
    other = sign_in(type(client)(), chen.user, password)
    tonic = Favourite.objects.get(name="Scalp tonic")
    assert other.post(f"/favourites/{tonic.public_id}/delete/").status_code == 404


def test_the_patient_page_shows_details_allergies_and_history_with_reorder(as_rivera, api_as, rivera, staff, ready):
    order = submit(api_as, rivera, first="Maya", last="Lopez")
    approve(staff, order)
    patient = Order.objects.get(public_id=order["id"]).patient
    page = as_rivera.get(f"/patients/{patient.public_id}/").content.decode()
    assert "Maya Lopez" in page and "Apr 12, 1991" in page and order["number"] in page and "Approved" in page
    assert "Oil-in-water cream base, preservative-free, 50 g" in page and "Niacinamide 4 %" in page
    assert "Reorder" in page and "Refill" not in page  # refills come with issue 18
    assert f'/orders/{order["id"]}/reorder/' in page
    assert "Edit details and allergies" in page
    assert as_rivera.get(f"/patients/{patient.public_id}/edit/").status_code == 200


def test_the_printable_order_is_rendered_in_the_background_and_reads_back(as_rivera, api_as, rivera, lena, ready, settings, tmp_path):
    from fulfillment import order_print

    settings.MEDIA_ROOT = tmp_path
    submitted = submit(api_as, rivera, first="Maya", last="Lopez")
    order = Order.objects.get(public_id=submitted["id"])
    page = as_rivera.get(f"/orders/{order.public_id}/print/").content.decode()
    assert 'data-testid="order-print-waiting"' in page  # queued for the worker, not rendered in the request
    assert as_rivera.get(f"/orders/{order.public_id}/print.pdf").status_code == 404
    order_print.order_print_render(order_id=order.pk)  # what the worker's task does
    assert 'data-testid="order-print-ready"' in as_rivera.get(f"/orders/{order.public_id}/print/", HTTP_HX_REQUEST="true").content.decode()
    response = as_rivera.get(f"/orders/{order.public_id}/print.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf" and "no-store" in response["Cache-Control"]
    text = pdf_text(response.content)
    order.refresh_from_db()
    for words in (f"Prescription order {order.number}", "NPI", "Maya Lopez", "Born Apr 12, 1991", "Niacinamide 4 %",
                  "Phenoxyethanol/ethylhexylglycerin 90:10 1 %", "50 g", "Apply nightly.", "Excluded: nothing",
                  "Signed electronically", order.signed_at.astimezone().strftime("%b %-d, %Y"), "I attest that I examined this patient"):
        assert words in text, words
    assert "E+" not in text


def test_the_printable_order_says_the_exclusions_and_the_signing_time(rivera, lena, ready, settings, tmp_path):
    from django.utils import timezone

    from fulfillment import order_print

    draft = services.order_draft_create(prescriber=rivera, by=rivera.user, patient=lena)
    body = {"patient_id": lena.public_id, "preparations": [{
        "base": "ointment-base", "quantity": "30", "unit": "g", "route": "topical", "refills": 2, "directions": "Twice daily.",
        "ingredients": [{"ingredient": "squalane", "percent": "5"}],
        "exclusions": {"allergen_groups": ["FRAGRANCE", "PARABENS"], "preservative_free": True}}]}
    from orders.api_validate import OrderBodySerializer

    serializer = OrderBodySerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    order = services.order_submit(user=rivera.user, body=serializer.validated_data, source="web", draft=draft)
    text = pdf_text(order_print.order_print_pdf(order))
    signed = timezone.localtime(order.signed_at)
    assert "Excluded: Fragrance and essential oils, Parabens, Preservatives (preservative-free)" in text
    assert "Allergies: Fragrance and essential oils, Parabens" in text or "Allergies: Parabens, Fragrance and essential oils" in text
    assert f"on {signed:%b} {signed.day}, {signed:%Y} at {signed:%H:%M}" in text and "Squalane 5 %" in text and "30 g" in text
