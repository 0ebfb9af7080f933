"""Renewals (issue 18): a refill refused for none left asks the prescriber to renew; the request waits on the
prescriber's home; approving makes one new signed order copying the preparation (approving twice still one);
approving with changes signs the changed preparation; denying keeps the reason. Webhooks tell the platform."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fulfillment.models import WebhookEndpoint, WebhookEvent
from orders.models import Order, RenewalRequest
from portal.models import AccessEvent
from tests.builders import approve, released_job, submit
from tests.fulfillment.test_refills import START, prep_id, ship
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db


def depleted(api_as, rivera, staff, time_machine):
    """An order with no refills, filled and shipped: a refill now has none left."""
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=0)
    ship(staff, job0["id"], "SIM-RENEW-00")
    return order


def test_no_refills_left_asks_the_prescriber_who_approves_once(client, api_as, rivera, chen, staff, ready, time_machine, password):
    WebhookEndpoint.objects.create(clinic=rivera.clinic, url="https://ehr.example.test/hooks", secret="s" * 32, created_by=rivera.user,
                                   event_types=["renewal.requested", "renewal.approved"])
    order = depleted(api_as, rivera, staff, time_machine)
    refused = staff["tech"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NO_REFILLS_LEFT"
    renewal_id = refused.json()["error"]["renewal_request"]
    renewal = RenewalRequest.objects.get(public_id=renewal_id)
    assert renewal.status == "pending" and renewal.source == "pharmacy"
    # Asking again answers the waiting request (200), never a second one.
    again = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/renewal-requests/", {"note": "patient called"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == renewal_id
    assert RenewalRequest.objects.count() == 1

    sign_in(client, rivera.user, password)
    home = client.get("/prescriber/", follow=True).content.decode()
    assert 'data-testid="renewals"' in home and "Maya Lopez" in home and "no refills left" in home.lower()

    # Another clinic's prescriber cannot see or decide it.
    assert api_as(chen.user).post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {}, format="json").status_code == 404
    # Only a prescriber decides.
    assert staff["pharmacist"].post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {}, format="json").status_code == 403

    approved = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {}, format="json")
    assert approved.status_code == 201, approved.json()
    new = approved.json()
    assert new["id"] != order["id"] and new["status"] == "submitted"
    assert new["preparations"][0]["base"] == order["preparations"][0]["base"]
    assert [i["ingredient"] for i in new["preparations"][0]["ingredients"]] == [i["ingredient"] for i in order["preparations"][0]["ingredients"]]
    twice = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {}, format="json")
    assert twice.status_code == 409 and new["number"] in twice.json()["error"]["message"]
    assert Order.objects.filter(patient__first_name="Maya").count() == 2
    renewal.refresh_from_db()
    assert renewal.status == "approved" and str(renewal.new_order.public_id) == new["id"]
    types = list(WebhookEvent.objects.filter(type__startswith="renewal.").order_by("pk").values_list("type", flat=True))
    assert types == ["renewal.requested", "renewal.approved"]
    assert WebhookEvent.objects.get(type="renewal.approved").payload["data"]["new_order_id"] == new["id"]
    home = client.get("/prescriber/", follow=True).content.decode()
    assert 'data-testid="renewals"' not in home and "no refills left" not in home.lower()  # decided: no longer waiting


def test_renewal_bad_input_changes_and_denial(api_as, rivera, staff, ready, time_machine):
    WebhookEndpoint.objects.create(clinic=rivera.clinic, url="https://ehr.example.test/hooks", secret="s" * 32, created_by=rivera.user,
                                   event_types=["renewal.denied"])
    order = depleted(api_as, rivera, staff, time_machine)
    url = f"/api/v1/preparations/{prep_id(order)}/renewal-requests/"
    # Not needed while refills remain.
    with_refills = submit(api_as, rivera, first="Ana", refills=2)
    approve(staff, with_refills)
    not_needed = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(with_refills)}/renewal-requests/", {}, format="json")
    assert not_needed.status_code == 409 and not_needed.json()["error"]["code"] == "RENEWAL_NOT_NEEDED"
    renewal_id = staff["pharmacist"].post(url, {}, format="json").json()["id"]
    # Approve with changes: a changed strength, checked by the rules like any order.
    changed = {"base": "cream-base-pf", "quantity": 30, "unit": "g", "target_ph": 5.0, "directions": "Apply nightly to the cheeks.",
               "refills": 3, "ingredients": [{"ingredient": "pe9010", "percent": 1}, {"ingredient": "niacinamide", "percent": 2}]}
    bad = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal_id}/approve/",
                                   {"preparation": {**changed, "ingredients": [{"ingredient": "niacinamide", "percent": 90}]}}, format="json")
    assert bad.status_code == 422, bad.json()  # the rules refuse it, as they would a new order
    assert RenewalRequest.objects.get(public_id=renewal_id).status == "pending"  # nothing decided
    ok = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {"preparation": changed}, format="json")
    assert ok.status_code == 201, ok.json()
    prep = ok.json()["preparations"][0]
    assert prep["refills"] == 3 and prep["quantity"] in ("30", "30.000", 30) and prep["directions"] == "Apply nightly to the cheeks."
    # Deny: a reason is required; then the next request for the new order's preparation can be denied.
    time_machine.move_to(START + dt.timedelta(days=400), tick=False)  # the first prescription has expired
    second = staff["pharmacist"].post(url, {}, format="json")
    assert second.status_code == 201
    assert api_as(rivera.user).post(f"/api/v1/renewal-requests/{second.json()['id']}/deny/", {"reason": " "}, format="json").status_code == 400
    denied = api_as(rivera.user).post(f"/api/v1/renewal-requests/{second.json()['id']}/deny/", {"reason": "Needs a visit first"}, format="json")
    assert denied.status_code == 200 and denied.json()["status"] == "denied" and denied.json()["reason"] == "Needs a visit first"
    # The platform hears of the denial by ids and status, never the words written about the patient (DESIGN: webhooks
    # carry no patient data); it reads the reason from the renewal request, and that read is audited.
    told = WebhookEvent.objects.get(type="renewal.denied").payload["data"]
    assert told["renewal_request_id"] == second.json()["id"] and told["status"] == "denied"
    assert "Needs a visit first" not in json.dumps(WebhookEvent.objects.get(type="renewal.denied").payload)
    read = api_as(rivera.user).get(f"/api/v1/renewal-requests/{second.json()['id']}/")
    assert read.status_code == 200 and read.json()["reason"] == "Needs a visit first" and read.json()["status"] == "denied"
    assert AccessEvent.objects.filter(object_type="renewal request", object_id=second.json()["id"]).count() == 1
    assert api_as(rivera.user).post(f"/api/v1/renewal-requests/{second.json()['id']}/approve/", {}, format="json").status_code == 409


def test_the_patient_asks_for_a_renewal_from_the_status_page(client, api_as, rivera, staff, ready, time_machine, password):
    from orders.patient_links import link_token, patient_link_current

    order = depleted(api_as, rivera, staff, time_machine)
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    page = client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, follow=True).content.decode()
    assert "This prescription has no refills. Your prescriber can renew it." in page and "Ask my prescriber to renew it" in page
    page = client.post(f"/s/{token}/", {"action": "renewal", "preparation": prep_id(order)}, follow=True).content.decode()
    assert "We have asked your prescriber to renew it" in page and "Your prescriber has been asked to renew it." in page
    assert "Ask my prescriber to renew it" not in page
    renewal = RenewalRequest.objects.get()
    assert renewal.source == "patient" and renewal.requested_by is None and renewal.why == "NO_REFILLS_LEFT"
    client.post(f"/s/{token}/", {"action": "renewal", "preparation": prep_id(order)})  # again: still one
    assert RenewalRequest.objects.count() == 1
    client.logout()
    sign_in(client, rivera.user, password)
    home = client.get("/prescriber/").content.decode()
    assert "No refills left · asked by the patient" in home


def test_renew_as_it_was_goes_through_the_review_and_attestation_and_keeps_the_refills(client, api_as, rivera, staff, ready,
                                                                                       time_machine, password):
    """Walk #20: "Renew as it was" signed a new order in one click. Now it opens the signing page (safety summary,
    attestation); nothing is signed until the prescriber ticks "I attest…" and signs; the renewal is then approved by
    that order, whose refills (and interval) are the prescription's own."""
    from django.urls import reverse

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2, refill_interval_days=30)
    ship(staff, job0["id"], "SIM-RENEW-EXP")
    time_machine.move_to(START + dt.timedelta(days=366), tick=False)
    refused = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "PRESCRIPTION_EXPIRED"
    renewal = RenewalRequest.objects.get(public_id=refused.json()["error"]["renewal_request"])
    sign_in(client, rivera.user, password)
    before = Order.objects.exclude(status="draft").count()

    answer = client.post(reverse("renewal-approve", args=[renewal.public_id]))
    assert answer.status_code == 302 and answer["Location"].endswith("/review/")
    assert Order.objects.exclude(status="draft").count() == before  # nothing signed by the button
    renewal.refresh_from_db()
    assert renewal.status == "pending" and renewal.draft_id
    review = client.get(answer["Location"]).content.decode()
    assert "I attest that I examined this patient" in review and "Refills: 2" in review and "one every 30 days" in review
    # Clicking the button again opens the same draft, never a second one.
    assert client.post(reverse("renewal-approve", args=[renewal.public_id]))["Location"] == answer["Location"]

    unattested = client.post(answer["Location"], {"note": ""})
    assert "Tick the attestation to sign." in unattested.content.decode()
    renewal.refresh_from_db()
    assert renewal.status == "pending" and Order.objects.exclude(status="draft").count() == before

    signed = client.post(answer["Location"], {"attest": "on", "note": ""})
    assert signed.status_code == 302
    renewal.refresh_from_db()
    assert renewal.status == "approved" and renewal.new_order.status == "submitted" and renewal.new_order.attestation
    new_prep = renewal.new_order.preparations.get()
    assert (new_prep.refills, new_prep.refills_remaining, new_prep.refill_interval_days) == (2, 2, 30)
    # Signing again (a double submit) signs nothing more; the renewal stays approved by the one order.
    client.post(answer["Location"], {"attest": "on", "note": ""})
    assert Order.objects.exclude(status="draft").count() == before + 1
    twice = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal.public_id}/approve/", {}, format="json")
    assert twice.status_code == 409 and renewal.new_order.number in twice.json()["error"]["message"]


def test_a_renewal_decided_without_its_draft_leaves_no_draft_to_sign_as_a_second_order(client, api_as, rivera, staff, ready,
                                                                                       time_machine, password):
    """The button makes a prefilled draft; if the renewal is then approved through the API (or denied), the draft goes.
    A draft that outlived its renewal's decision (a race) is refused at signing: it would be a second order."""
    from django.urls import reverse

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2, refill_interval_days=30)
    ship(staff, job0["id"], "SIM-RENEW-DRAFT")
    time_machine.move_to(START + dt.timedelta(days=366), tick=False)
    refused = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    renewal = RenewalRequest.objects.get(public_id=refused.json()["error"]["renewal_request"])
    sign_in(client, rivera.user, password)
    review_url = client.post(reverse("renewal-approve", args=[renewal.public_id]))["Location"]
    renewal.refresh_from_db()
    draft_pk = renewal.draft_id
    assert Order.objects.filter(pk=draft_pk, status="draft").exists()

    approved = api_as(rivera.user).post(f"/api/v1/renewal-requests/{renewal.public_id}/approve/", {}, format="json")
    assert approved.status_code == 201, approved.json()
    assert not Order.objects.filter(pk=draft_pk).exists()  # the draft went with the decision
    assert client.get(review_url).status_code == 404  # the page the button opened has nothing left to sign
    signed_orders = Order.objects.exclude(status="draft").count()

    # The race: a draft that outlived the decision is refused at signing, in words, and nothing is signed.
    client.post(reverse("renewal-approve", args=[renewal.public_id]))  # the decided renewal opens no new draft
    renewal.refresh_from_db()
    assert renewal.draft_id is None and not Order.objects.filter(status="draft", patient=order_patient(order)).exists()
    from orders.services import order_draft_create, order_reorder_body, prescriber_of
    original = Order.objects.get(public_id=order["id"])
    stale = order_draft_create(prescriber=prescriber_of(rivera.user), by=rivera.user, body={"preparations": []},
                               patient=original.patient)
    RenewalRequest.objects.filter(pk=renewal.pk).update(draft=stale)
    body = order_reorder_body(original, only=original.preparations.get())
    body["patient_id"] = str(original.patient.public_id)
    Order.objects.filter(pk=stale.pk).update(draft=body)
    answer = client.post(f"/orders/{stale.public_id}/review/", {"attest": "on", "note": ""})
    assert "whose renewal was already approved as order" in answer.content.decode()
    assert Order.objects.exclude(status="draft").count() == signed_orders


def order_patient(order: dict):
    return Order.objects.get(public_id=order["id"]).patient


def test_a_note_or_a_reason_too_long_is_refused_whole_never_cut(client, api_as, rivera, pharmacist, staff, ready, time_machine, password):
    """What a person wrote is refused with its length, nothing saved; it used to be cut at 1000 (note) or 2000 (reason)
    characters and saved."""
    from fulfillment import renewals
    from orders.models import Preparation
    from portal.errors import ServiceError

    order = depleted(api_as, rivera, staff, time_machine)
    prep = Preparation.objects.get(public_id=prep_id(order))
    with pytest.raises(ServiceError) as long_note:
        renewals.renewal_request(preparation=prep, by=pharmacist, note="n" * 1001)
    assert long_note.value.fields == {"note": ["At most 1000 characters (this has 1001)."]}
    assert not RenewalRequest.objects.exists()
    # The pharmacy's page says so, and asks nothing.
    sign_in(client, pharmacist, password)
    page = client.post(f"/preparations/{prep.public_id}/renewal/", {"note": "n" * 1001}, follow=True).content.decode()
    assert "The note is too long: at most 1000 characters (this has 1001)." in page and not RenewalRequest.objects.exists()

    renewal, created = renewals.renewal_request(preparation=prep, by=pharmacist, note="n" * 1000)
    assert created and len(renewal.note) == 1000
    with pytest.raises(ServiceError) as long_reason:
        renewals.renewal_deny(renewal=renewal, by=rivera.user, reason="r" * 2001)
    assert long_reason.value.fields == {"reason": ["At most 2000 characters (this has 2001)."]}
    renewal.refresh_from_db()
    assert renewal.status == "pending" and renewal.reason == ""
    assert renewals.renewal_deny(renewal=renewal, by=rivera.user, reason="r" * 2000).reason == "r" * 2000
