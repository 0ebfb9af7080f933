"""Refills through the API (issue 18): an order with two refills is filled and shipped; an immediate refill is too
soon; a pharmacist's override makes fill 1 with its own worksheet ("refill 1"), record, QC, label dated from its own
compounding and shipment; refills_remaining goes down on release; the third refill has none left. Bad input:
another clinic's preparation, an override reason from anyone but a pharmacist, an Idempotency-Key reused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fulfillment import rendering
from fulfillment.models import Job, WebhookEndpoint, WebhookEvent, Worksheet
from orders.models import Preparation, RefillRequest, RenewalRequest
from tests.builders import pdf_text, record_body, released_job

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc)


def ship(staff, job_id, tracking):
    response = staff["tech"].post("/api/v1/shipments/", {"jobs": [job_id], "carrier": "simulated", "service": "Ground",
                                                         "tracking_number": tracking}, format="json")
    assert response.status_code == 201, response.json()


def fill_and_ship(staff, job_id, tracking, *, quantity=50):
    """Claim, worksheet, record, QC, release and ship one job through the API; returns the worksheet PDF's words."""
    assert staff["tech"].post(f"/api/v1/jobs/{job_id}/claim/").status_code == 200
    worksheet = Worksheet.objects.filter(job__public_id=job_id).order_by("-version").first()
    rendering.worksheet_render(worksheet_id=worksheet.pk)
    pdf = staff["tech"].get(f"/api/v1/jobs/{job_id}/worksheet/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    words = pdf_text(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)
    assert staff["tech"].post(f"/api/v1/jobs/{job_id}/record/", record_body(job_id), format="json").status_code == 200
    qc = staff["tech"].post(f"/api/v1/jobs/{job_id}/qc/", {"ph": 5.0, "appearance_ok": True, "fill_weight": quantity}, format="json")
    assert qc.json()["passed"] is True
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job_id}/verify/").status_code == 200
    ship(staff, job_id, tracking)
    return words


def prep_id(order) -> str:
    return order["preparations"][0]["id"]


def test_refills_through_the_api(client, api_as, rivera, staff, ready, time_machine, password):
    time_machine.move_to(START, tick=False)
    WebhookEndpoint.objects.create(clinic=rivera.clinic, url="https://ehr.example.test/hooks", secret="s" * 32, created_by=rivera.user,
                                   event_types=["refill.requested", "refill.released", "prescription.depleted"])
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-REFILL-00")
    doctor = api_as(rivera.user)
    url = f"/api/v1/preparations/{prep_id(order)}/refills/"

    too_soon = doctor.post(url, {}, format="json")
    assert too_soon.status_code == 409
    assert too_soon.json()["error"]["code"] == "REFILL_TOO_SOON"
    assert too_soon.json()["error"]["earliest"] == "2026-12-22"  # 21 days after it shipped, no interval set
    assert "December 22, 2026" in too_soon.json()["error"]["message"]
    # A prescriber's override reason is ignored, and says so.
    ignored = doctor.post(url, {"override_reason": "Patient travelling"}, format="json")
    assert ignored.status_code == 409 and "Only a pharmacist can fill a refill early" in ignored.json()["error"]["message"]
    assert not RefillRequest.objects.exists() and Job.objects.filter(preparation__public_id=prep_id(order)).count() == 1

    early = staff["pharmacist"].post(url, {"override_reason": "Patient travels abroad for a month", "note": "call first"}, format="json")
    assert early.status_code == 201, early.json()
    refill = early.json()
    assert refill["fill"] == 1 and refill["status"] == "open" and refill["preparation"] == prep_id(order)
    assert refill["requested_by"] == "Test Pharm" and refill["message"] == ""
    job1 = Job.objects.get(public_id=refill["job"])
    assert job1.fill == 1 and job1.status == "queued" and job1.number.endswith("-1-R1")

    time_machine.move_to(START + dt.timedelta(days=3), tick=False)  # compounded three days later: its own dates
    words = fill_and_ship(staff, refill["job"], "SIM-REFILL-01")
    assert "refill 1" in words and "original fill" not in words
    label = staff["tech"].get(f"/api/v1/jobs/{refill['job']}/label/")
    label_words = pdf_text(b"".join(label.streaming_content) if label.streaming else label.content)
    assert "refill 1" in label_words and "Refills left: 1 of 2" in label_words  # refill 1 released: one of the two left
    detail = doctor.get(f"/api/v1/preparations/{prep_id(order)}/").json()
    assert detail["refills"] == 2 and detail["refills_remaining"] == 1
    assert [f["fill"] for f in detail["fills"]] == [0, 1]
    first, second = detail["fills"]
    assert first["compounded_on"] == "2026-12-01" and second["compounded_on"] == "2026-12-04"
    assert dt.date.fromisoformat(second["beyond_use_date"]) - dt.date.fromisoformat(first["beyond_use_date"]) == dt.timedelta(days=3)
    assert second["shipment"]["tracking_number"] == "SIM-REFILL-01" and second["status"] == "shipped"
    assert detail["next_refill_on"] == "2026-12-25"  # 21 days after the refill shipped
    assert detail["can_request_refill"] is False and detail["refill_refused"]["code"] == "REFILL_TOO_SOON"

    time_machine.move_to(START + dt.timedelta(days=26), tick=False)
    second_refill = doctor.post(url, {"note": "Running low"}, format="json")
    assert second_refill.status_code == 201 and second_refill.json()["fill"] == 2
    # The last refill is held by the open request: a third is refused before the second is released.
    third = doctor.post(url, {}, format="json")
    assert third.status_code == 409 and third.json()["error"]["code"] == "NO_REFILLS_LEFT"
    fill_and_ship(staff, second_refill.json()["job"], "SIM-REFILL-02")
    assert Preparation.objects.get(public_id=prep_id(order)).refills_remaining == 0
    third = doctor.post(url, {}, format="json")
    assert third.status_code == 409 and third.json()["error"]["code"] == "NO_REFILLS_LEFT"
    assert "renew" in third.json()["error"]["message"]
    # Asked by the pharmacy, the refusal asks dr. Rivera to renew; the request waits on her home; approving makes a new order.
    by_pharmacy = staff["tech"].post(url, {}, format="json")
    assert by_pharmacy.status_code == 409 and by_pharmacy.json()["error"]["code"] == "NO_REFILLS_LEFT"
    renewal_id = by_pharmacy.json()["error"]["renewal_request"]
    from tests.twofa import sign_in

    sign_in(client, rivera.user, password)
    home = client.get("/prescriber/").content.decode()
    assert 'data-testid="renewal"' in home and "No refills left · asked by" in home
    renewed = doctor.post(f"/api/v1/renewal-requests/{renewal_id}/approve/", {}, format="json")
    assert renewed.status_code == 201 and renewed.json()["preparations"][0]["refills"] == 2 and renewed.json()["id"] != order["id"]
    assert 'data-testid="renewal"' not in client.get("/prescriber/").content.decode()

    types = list(WebhookEvent.objects.filter(order__public_id=order["id"]).exclude(type__contains="_").exclude(type__startswith="shipment")
                 .exclude(type__startswith="renewal")
                 .order_by("sequence").values_list("type", flat=True))
    assert types == ["refill.requested", "refill.released", "refill.requested", "refill.released", "prescription.depleted"]
    depleted = WebhookEvent.objects.get(type="prescription.depleted").payload["data"]
    assert depleted["refills_remaining"] == 0 and depleted["fill"] == 2 and depleted["preparation_id"] == prep_id(order)
    # The history tells it in words.
    events = staff["pharmacist"].get(f"/api/v1/orders/{order['id']}/events/").json()
    kinds = [e["kind"] for e in (events["results"] if isinstance(events, dict) else events)]
    assert kinds.count("refill_requested") == 2 and kinds.count("refill_released") == 2


def test_refill_bad_input(api_as, rivera, chen, staff, technician, ready, time_machine):
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=1)
    url = f"/api/v1/preparations/{prep_id(order)}/refills/"
    # Not shipped yet: the first fill is still being made.
    in_progress = api_as(rivera.user).post(url, {}, format="json")
    assert in_progress.status_code == 409 and in_progress.json()["error"]["code"] == "FILL_IN_PROGRESS"
    ship(staff, job0["id"], "SIM-BAD-00")
    # Another clinic's preparation is not found, for the refill and for the read.
    assert api_as(chen.user).post(url, {}, format="json").status_code == 404
    assert api_as(chen.user).get(f"/api/v1/preparations/{prep_id(order)}/").status_code == 404
    assert api_as(rivera.user).post("/api/v1/preparations/00000000-0000-0000-0000-000000000000/refills/", {}, format="json").status_code == 404
    # A technician's override reason is ignored with a clear message.
    tech = staff["tech"].post(url, {"override_reason": "Asked nicely"}, format="json")
    assert tech.status_code == 409 and tech.json()["error"]["code"] == "REFILL_TOO_SOON"
    assert "Only a pharmacist can fill a refill early" in tech.json()["error"]["message"]
    assert api_as(rivera.user).post(url, {"note": "x" * 1001}, format="json").status_code == 400
    # Idempotency: a retry answers the first answer; the same key with another body is refused.
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    first = staff["tech"].post(url, {"override_reason": "ignored"}, format="json", HTTP_IDEMPOTENCY_KEY="refill-key-1")
    assert first.status_code == 201 and "override reason was ignored" in first.json()["message"]
    again = staff["tech"].post(url, {"override_reason": "ignored"}, format="json", HTTP_IDEMPOTENCY_KEY="refill-key-1")
    assert again.status_code == 201 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert staff["tech"].post(url, {"note": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="refill-key-1").status_code == 422
    assert RefillRequest.objects.filter(preparation__public_id=prep_id(order)).count() == 1


def test_cancelled_and_expired_prescriptions_are_not_refilled(api_as, rivera, staff, ready, time_machine, settings):
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=3)
    ship(staff, job0["id"], "SIM-EXP-00")
    url = f"/api/v1/preparations/{prep_id(order)}/refills/"
    time_machine.move_to(START + dt.timedelta(days=366), tick=False)
    expired = staff["pharmacist"].post(url, {"override_reason": "Still needed"}, format="json")
    assert expired.status_code == 409 and expired.json()["error"]["code"] == "PRESCRIPTION_EXPIRED"
    settings.REFILL_PRESCRIPTION_EXPIRY_DAYS = 400  # configurable
    assert staff["pharmacist"].post(url, {}, format="json").status_code == 201

    from tests.builders import approve, submit

    cancelled = submit(api_as, rivera, refills=2)
    approve(staff, cancelled)
    assert api_as(rivera.user).post(f"/api/v1/orders/{cancelled['id']}/cancel/", {"reason": "changed plan"}, format="json").status_code == 200
    refused = api_as(rivera.user).post(f"/api/v1/preparations/{prep_id(cancelled)}/refills/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ORDER_NOT_ACTIVE"
    assert "cancelled" in refused.json()["error"]["message"]


def test_each_refill_is_checked_again_against_today(api_as, rivera, staff, ready, time_machine):
    """A licence that lapsed since signing (the prescriber's in the patient's state) stops the refill and asks the prescriber."""
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-RECHECK-00")
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    rivera.licences.filter(state="CA").update(expires_on=(START + dt.timedelta(days=10)).date())
    url = f"/api/v1/preparations/{prep_id(order)}/refills/"
    refused = api_as(rivera.user).post(url, {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "REFILL_RECHECK_FAILED", refused.json()
    assert "Ask the prescriber to renew it" in refused.json()["error"]["message"]
    assert refused.json()["error"]["fields"]["findings"][0]["code"].startswith("PRESCRIBER_NOT_LICENSED")
    assert not RefillRequest.objects.exists()
    assert not RenewalRequest.objects.exists()  # the prescriber asked: nobody to ask
    by_pharmacy = staff["tech"].post(url, {}, format="json")
    assert by_pharmacy.status_code == 409 and by_pharmacy.json()["error"]["code"] == "REFILL_RECHECK_FAILED"
    renewal = RenewalRequest.objects.get(public_id=by_pharmacy.json()["error"]["renewal_request"])
    assert renewal.why == "REFILL_RECHECK_FAILED" and renewal.status == "pending"
    rivera.licences.filter(state="CA").update(expires_on=(START + dt.timedelta(days=900)).date())
    assert api_as(rivera.user).post(url, {}, format="json").status_code == 201


def test_refill_interval_at_signing_and_the_patients_pause(client, api_as, rivera, staff, ready, time_machine):
    import uuid

    from orders.models import Order
    from orders.patient_links import link_token, patient_link_current
    from tests.builders import approve, submit

    body = {"patient": {"first_name": "Ana", "last_name": "Ruiz", "date_of_birth": "1991-04-12"},
            "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"},
            "preparations": [{"base": "cream-base-pf", "quantity": 50, "unit": "g", "directions": "Apply nightly.", "refills": 2,
                              "refill_interval_days": 6}]}
    bad = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert bad.status_code == 400 and "refill_interval_days" in str(bad.json())
    time_machine.move_to(START, tick=False)
    order = submit(api_as, rivera, refills=2, refill_interval_days=30)
    approve(staff, order)
    prep = Preparation.objects.get(public_id=prep_id(order))
    assert prep.refill_interval_days == 30 and not prep.auto_refill_paused
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    page = client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, follow=True).content.decode()
    assert "refill every 30 days" in page and "Pause automatic refills" in page
    page = client.post(f"/s/{token}/", {"action": "pause_auto", "preparation": prep_id(order)}, follow=True).content.decode()
    assert "Automatic refills are paused" in page and "Resume automatic refills" in page
    assert Preparation.objects.get(pk=prep.pk).auto_refill_paused is True
    page = client.post(f"/s/{token}/", {"action": "resume_auto", "preparation": prep_id(order)}, follow=True).content.decode()
    assert "Automatic refills are on again" in page and Preparation.objects.get(pk=prep.pk).auto_refill_paused is False
    events = staff["pharmacist"].get(f"/api/v1/orders/{order['id']}/events/").json()
    kinds = [e["kind"] for e in (events["results"] if isinstance(events, dict) else events)]
    assert "auto_refill_paused" in kinds and "auto_refill_resumed" in kinds
    # Another order's preparation cannot be paused from this link.
    other = submit(api_as, rivera, first="Bo", refills=1, refill_interval_days=30)
    client.post(f"/s/{token}/", {"action": "pause_auto", "preparation": prep_id(other)})
    assert Preparation.objects.get(public_id=prep_id(other)).auto_refill_paused is False


def test_long_refill_text_is_refused_beside_its_field_never_cut(client, api_as, rivera, staff, pharmacist, ready, time_machine,
                                                                 password):
    """Walk #17: a 3000-character note and override reason were stored cut to 1000 with a success message. Now the
    page refuses them beside each field with the portal's words, keeps what was typed and requests nothing."""
    from tests.twofa import sign_in

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=1)
    ship(staff, job0["id"], "SIM-LONG-01")
    sign_in(client, pharmacist, password)
    url = f"/preparations/{prep_id(order)}/"
    long_note, long_reason = "n" * 3000, "r" * 2999 + " "
    page = client.post(f"{url}refill/", {"note": long_note, "override_reason": long_reason})
    html = page.content.decode()
    assert page.status_code == 400
    assert "At most 1000 characters (this has 3000)." in html and "At most 1000 characters (this has 2999)." in html
    assert 'id="err-note"' in html and 'id="err-override_reason"' in html
    assert f'value="{long_note}"' in html  # what was typed is kept
    assert RefillRequest.objects.filter(preparation__public_id=prep_id(order)).count() == 0
    assert Job.objects.filter(preparation__public_id=prep_id(order)).count() == 1
    # The service is the door for every path: it refuses too (the API's body also says at most 1000).
    from fulfillment import refills
    from portal.errors import ServiceError

    with pytest.raises(ServiceError) as refused:
        refills.refill_request(preparation=Preparation.objects.get(public_id=prep_id(order)), by=pharmacist, note=long_note,
                               override_reason="travels")
    assert refused.value.fields == {"note": ["At most 1000 characters (this has 3000)."]}
    assert RefillRequest.objects.filter(preparation__public_id=prep_id(order)).count() == 0
    answer = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {"note": long_note}, format="json")
    assert answer.status_code == 400 and "note" in answer.json()["error"]["fields"]
    # Within the limit it goes through.
    ok = client.post(f"{url}refill/", {"note": "n" * 1000, "override_reason": "The patient travels abroad."}, follow=True)
    assert "Refill 1 requested" in ok.content.decode()
    assert RefillRequest.objects.get(preparation__public_id=prep_id(order)).note == "n" * 1000


def test_patient_page_shows_every_fill_latest_first(client, api_as, rivera, staff, ready, time_machine):
    """Walk #23/#30: once a refill existed, the patient's page showed only the refill's steps; the shipped first fill and
    its tracking vanished while the top still promised the first fill's ship date; a failed QC read "Rework"."""
    from orders.models import Order
    from orders.patient_links import link_token, patient_link_current

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-FILLS-00")
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    assert client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}).status_code == 302  # confirmed (a wrong date answers 200)
    first = client.get(f"/s/{token}/").content.decode()
    assert "SIM-FILLS-00" in first and "First fill" not in first  # one fill: no fill headings
    assert "Refills left: 2 of 2." in first and "being made now" not in first

    early = staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {"override_reason": "Travelling"}, format="json")
    assert early.status_code == 201
    refill_job = early.json()["job"]
    page = client.get(f"/s/{token}/").content.decode()
    assert 'data-testid="fill-title">Refill 1' in page and 'data-testid="fill-title">First fill' in page
    assert page.index("Refill 1") < page.index("First fill")  # the latest first
    assert page.count('data-testid="fill"') == 2
    first_fill = page[page.index("First fill"):]
    assert "SIM-FILLS-00" in first_fill and "Prescription received" in first_fill and "Shipped" in first_fill
    assert "Refill 1 requested" in page[:page.index("First fill")]
    assert "expects to ship your order by" not in page and "Your refill is with the pharmacy" in page
    # The requested refill is counted among those left until it is released: said so, else "2 of 2" right after asking
    # read as if nothing had happened (walk-through wk #12).
    assert "Refills left: 2 of 2, counting the one being made now." in page

    held = staff["pharmacist"].post(f"/api/v1/jobs/{refill_job}/hold/", {"reason": "Waiting for the base to arrive"}, format="json")
    assert held.status_code == 200, held.json()
    page = client.get(f"/s/{token}/").content.decode()
    assert "On hold: Waiting for the base to arrive" in page and "SIM-FILLS-00" in page
    assert staff["pharmacist"].post(f"/api/v1/jobs/{refill_job}/resume/").status_code == 200

    assert staff["tech"].post(f"/api/v1/jobs/{refill_job}/claim/").status_code == 200
    rendering.worksheet_render(worksheet_id=Worksheet.objects.filter(job__public_id=refill_job).order_by("-version").first().pk)
    assert staff["tech"].post(f"/api/v1/jobs/{refill_job}/record/", record_body(refill_job), format="json").status_code == 200
    failed = staff["tech"].post(f"/api/v1/jobs/{refill_job}/qc/", {"ph": "6.5", "appearance_ok": True, "fill_weight": 50}, format="json")
    assert failed.json()["job"]["status"] == "rework"
    page = client.get(f"/s/{token}/").content.decode()
    assert "Rework" not in page and "Being made again after a quality check" in page and "SIM-FILLS-00" in page


def test_patient_page_says_one_status_and_never_a_past_expected_delivery(client, api_as, rivera, staff, ready, time_machine):
    """The preparation's pill read "Queued" above its refill's "Waiting to be made"; and a first fill the carrier never
    reported delivered kept "Expected delivery: <a day long past>". One wording for both; a past estimate is said as past."""
    import re

    from orders.models import Order
    from orders.patient_links import link_token, patient_link_current

    time_machine.move_to(START, tick=False)  # Tuesday, Dec 1, 2026
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-LATE-00")  # Ground: five business days, Tuesday, Dec 8
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))

    def look() -> str:  # the confirmed session lasts hours, not days: the patient confirms again each time
        assert client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}).status_code == 302
        return client.get(f"/s/{token}/").content.decode()

    page = look()
    assert "Expected delivery: <strong>Tuesday, December 8</strong>" in page

    time_machine.move_to(START + dt.timedelta(days=3), tick=False)
    assert staff["pharmacist"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {"override_reason": "Travelling"},
                                    format="json").status_code == 201
    page = look()
    pill = re.search(r'data-testid="prep-status">([^<]*)<', page).group(1)
    fill_status = re.search(r'data-testid="fill-status">([^<]*)<', page).group(1)  # the latest fill's, the refill
    assert pill == fill_status == "Waiting to be made"

    time_machine.move_to(START + dt.timedelta(days=12), tick=False)  # Dec 13: the estimate is five days past, no delivery reported
    page = look()
    first_fill = page[page.index('data-testid="fill-title">First fill'):]
    assert "Expected delivery" not in page
    late = re.search(r'data-testid="delivery-late">(.*?)</p>', first_fill, re.S).group(1)
    assert "expected it by <strong>Tuesday, December 8</strong>" in late and "has not reported it delivered" in late
    assert "call the pharmacy" in late


def test_a_refill_request_reads_nothing_twice(api_as, rivera, staff, ready, time_machine):
    """Issue 22: the refill request answers from the refill and the job it just made (not read again), takes the next
    fill's number from the jobs it read under the lock, reads the master formulation record with the locked
    preparation, and re-checks with the order's prescriber and patient read once (not looked up again by NPI and id).
    The statements are counted; the answer is the same."""
    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-COUNT-00")
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    doctor = api_as(rivera.user)
    doctor.get(f"/api/v1/preparations/{prep_id(order)}/")  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as ctx:
        made = doctor.post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    assert made.status_code == 201, made.json()
    job1 = Job.objects.get(preparation__public_id=prep_id(order), fill=1)
    assert made.json()["job"] == str(job1.public_id) and made.json()["fill"] == 1 and job1.status == "queued"
    sql = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert not any('MAX("fulfillment_job"."fill")' in s for s in sql)
    assert sum("FROM \"formulary_masterformulationrecord\"" in s for s in sql) == 1, sql
    assert sum(s.startswith("SELECT") and "FROM \"orders_prescriber\"" in s for s in sql) == 1, sql  # the caller's scope only
    assert len(sql) == 29, (len(sql), sql)  # 37 before: the job answered, MAX(fill), the record, the re-check's 6 reads


def test_the_preparation_page_says_a_refill_may_be_asked_for_once_its_day_has_passed(client, api_as, rivera, staff, ready, time_machine,
                                                                                      password):
    """It said "Next refill due Friday, November 27, 2026." days after that day, beside the button (walk-through wk #13)."""
    from tests.twofa import sign_in

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=2)
    ship(staff, job0["id"], "SIM-DUE-00")
    sign_in(client, rivera.user, password)
    page = client.get(f"/preparations/{prep_id(order)}/").content.decode()
    assert "Next refill due Tuesday, December 22, 2026." in page  # 21 days after shipping: not yet
    time_machine.move_to(START + dt.timedelta(days=25), tick=False)
    sign_in(client, rivera.user, password)  # the session lapsed while the days passed
    page = client.get(f"/preparations/{prep_id(order)}/").content.decode()
    assert "A refill can be asked for now (due since Tuesday, December 22, 2026)." in page and "Next refill due" not in page
    assert 'data-testid="refill-form"' in page
