"""Holds and rework (issue 18): a pharmacist holds a job with a reason and resumes it to where it stood;
the prescriber and the patient read "On hold: <reason>"; the history and the webhooks tell it; a failed QC
sends the job to rework with the failed checks on its page."""

from __future__ import annotations

import pytest

from fulfillment.models import Job, WebhookEndpoint, WebhookEvent
from orders.models import Order
from orders.patient_links import link_token, patient_link_current
from tests.builders import approve, claimed_job, record_body, released_job, submit
from tests.twofa import sign_in

pytestmark = pytest.mark.django_db
REASON = "Waiting for a new lot of niacinamide to arrive"


def queued_job(api_as, rivera, staff):
    order = submit(api_as, rivera)
    approve(staff, order)
    return order, Job.objects.get(preparation__order__public_id=order["id"])


def test_hold_and_resume_through_the_api_seen_by_prescriber_and_patient(client, api_as, rivera, staff, ready, password):
    WebhookEndpoint.objects.create(clinic=rivera.clinic, url="https://ehr.example.test/hooks", secret="s" * 32,
                                   event_types=["job.on_hold", "job.resumed"], created_by=rivera.user)
    order, job = claimed_job(api_as, rivera, staff)  # compounding
    held = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/hold/", {"reason": f"  {REASON} "}, format="json")
    assert held.status_code == 200, held.json()
    assert held.json()["status"] == "on_hold" and held.json()["hold_reason"] == REASON
    # The prescriber's order page and the patient's status page say why, in the pharmacist's words.
    sign_in(client, rivera.user, password)
    page = client.get(f"/orders/{order['id']}/").content.decode()
    assert f"On hold: {REASON}" in page
    assert "put on hold by Test Pharm: " + REASON in page  # the history
    client.logout()
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    patient = client.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"}, follow=True).content.decode()
    assert f"On hold: {REASON}" in patient
    # Resumed: back to compounding (where it was held), the claim kept.
    resumed = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/resume/")
    assert resumed.status_code == 200 and resumed.json()["status"] == "compounding" and resumed.json()["hold_reason"] == ""
    assert resumed.json()["claimed_by"] == "techie"
    assert "On hold:" not in client.get(f"/s/{token}/").content.decode()
    history = staff["pharmacist"].get(f"/api/v1/orders/{order['id']}/events/").json()
    moves = [(e["from_status"], e["to_status"]) for e in (history["results"] if isinstance(history, dict) else history)
             if e["kind"] == "job_status"]
    assert ("compounding", "on_hold") in moves and ("on_hold", "compounding") in moves
    events = list(WebhookEvent.objects.filter(order__public_id=order["id"], type__startswith="job.").order_by("sequence"))
    assert [e.type for e in events] == ["job.on_hold", "job.resumed"]
    assert events[0].payload["data"]["job_id"] == job["id"] and events[1].payload["data"]["status"] == "compounding"
    assert REASON not in str(events[0].payload)  # ids and statuses only
    # The job then carries on: record, QC, release.
    assert staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json").status_code == 200


def test_hold_bad_input(api_as, rivera, chen, staff, ready):
    order, job = queued_job(api_as, rivera, staff)
    url = f"/api/v1/jobs/{job.public_id}/hold/"
    blank = staff["pharmacist"].post(url, {"reason": "   "}, format="json")
    assert blank.status_code == 400 and "reason" in str(blank.json())
    assert staff["pharmacist"].post(url, {}, format="json").status_code == 400
    tech = staff["tech"].post(url, {"reason": REASON}, format="json")
    assert tech.status_code == 403 and "pharmacist" in tech.json()["error"]["message"]
    assert api_as(rivera.user).post(url, {"reason": REASON}, format="json").status_code == 403
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job.public_id}/resume/").status_code == 409  # not on hold
    job.refresh_from_db()
    assert job.status == "queued" and job.hold_reason == ""
    assert staff["pharmacist"].post(url, {"reason": REASON}, format="json").json()["status"] == "on_hold"
    again = staff["pharmacist"].post(url, {"reason": REASON}, format="json")
    assert again.status_code == 409 and again.json()["error"]["message"] == f"Job {job.number} is already on hold."
    assert staff["pharmacist"].post(f"/api/v1/jobs/{job.public_id}/resume/").json()["status"] == "queued"


def test_a_shipped_job_cannot_be_held(api_as, rivera, staff, ready):
    order, job = released_job(api_as, rivera, staff)
    response = staff["pharmacist"].post(f"/api/v1/jobs/{job['id']}/hold/", {"reason": REASON}, format="json")
    assert response.status_code == 409 and "ready to ship" in response.json()["error"]["message"]


def test_hold_and_resume_on_the_job_page(client, api_as, rivera, staff, ready, pharmacist, technician, password):
    order, job = queued_job(api_as, rivera, staff)
    sign_in(client, technician, password)
    assert "hold-form" not in client.get(f"/pharmacy/jobs/{job.public_id}/").content.decode()
    client.post(f"/pharmacy/jobs/{job.public_id}/hold/", {"reason": REASON})
    job.refresh_from_db()
    assert job.status == "queued"
    client.logout()
    sign_in(client, pharmacist, password)
    page = client.get(f"/pharmacy/jobs/{job.public_id}/").content.decode()
    assert 'data-testid="hold-form"' in page
    page = client.post(f"/pharmacy/jobs/{job.public_id}/hold/", {"reason": ""}, follow=True).content.decode()
    assert "Say why the job is on hold" in page
    page = client.post(f"/pharmacy/jobs/{job.public_id}/hold/", {"reason": REASON}, follow=True).content.decode()
    assert 'data-testid="on-hold"' in page and REASON in page and "Resume" in page
    page = client.post(f"/pharmacy/jobs/{job.public_id}/resume/", follow=True).content.decode()
    assert "is off hold" in page
    assert "taken off hold by Test Pharm; queued again" in page
    job.refresh_from_db()
    assert job.status == "queued"


def test_failed_qc_sends_to_rework_with_the_failed_checks_listed(client, api_as, rivera, staff, ready, pharmacist, password):
    order, job = claimed_job(api_as, rivera, staff)
    staff["tech"].post(f"/api/v1/jobs/{job['id']}/record/", record_body(job["id"]), format="json")
    failed = staff["tech"].post(f"/api/v1/jobs/{job['id']}/qc/", {"ph": "6.5", "appearance_ok": False, "fill_weight": "50.2"},
                                format="json").json()
    assert failed["job"]["status"] == "rework" and len(failed["problems"]) == 2
    sign_in(client, pharmacist, password)
    page = client.get(f"/pharmacy/jobs/{job['id']}/").content.decode()
    assert 'data-testid="rework"' in page and "pH 6.5 is outside" in page and "Appearance is not as specified" in page
    client.logout()
    sign_in(client, rivera.user, password)
    history = client.get(f"/orders/{order['id']}/").content.decode()
    assert "QC failed" in history and "pH 6.5 is outside" in history
