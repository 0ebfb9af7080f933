"""The patient status page is exempt from the CSRF token (its Referrer-Policy no-referrer makes browsers post
"Origin: null"). Its refill, renewal and pause forms are safe without it: they act only for a session that confirmed
the date of birth, and that session's cookie is SameSite=Lax, so a cross-site post arrives without it and does nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client

from orders.models import Order, Preparation, RefillRequest, RenewalRequest
from orders.patient_links import link_token, patient_link_current
from tests.builders import released_job

pytestmark = pytest.mark.django_db


START = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc)


def state(order_id: str, prep_id: str) -> dict:
    """Everything the status page's posts could change."""
    order = Order.objects.get(public_id=order_id)
    return {"refills": RefillRequest.objects.count(), "renewals": RenewalRequest.objects.count(), "version": order.version,
            "paused": Preparation.objects.get(public_id=prep_id).auto_refill_paused,
            "remaining": Preparation.objects.get(public_id=prep_id).refills_remaining,
            "events": order.events.count()}


def test_a_forged_post_without_the_confirmed_session_does_nothing(api_as, rivera, staff, ready, time_machine):
    # A fill shipped 22 days ago with a 30-day interval and refills left: a refill and a pause are both possible now,
    # so a post that is not refused would show in the state below.
    time_machine.move_to(START, tick=False)
    order, job = released_job(api_as, rivera, staff, refills=2, refill_interval_days=30)
    assert staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                     "tracking_number": "SIM-CSRF-00"}, format="json").status_code == 201
    time_machine.move_to(START + dt.timedelta(days=22), tick=False)
    prep = order["preparations"][0]["id"]
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    before = state(order["id"], prep)
    assert before["paused"] is False and before["remaining"] == 2 and before["refills"] == 0
    forger = Client(enforce_csrf_checks=True)  # another site's form: no session cookie (SameSite=Lax keeps it home)
    for action in ("refill", "renewal", "pause_auto", "resume_auto"):
        answer = forger.post(f"/s/{token}/", {"action": action, "preparation": prep, "note": "x"}, HTTP_ORIGIN="https://evil.example")
        assert answer.status_code == 200 and "date of birth" in answer.content.decode().lower()
    assert state(order["id"], prep) == before

    patient = Client(enforce_csrf_checks=True)
    confirmed = patient.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"})
    assert confirmed.status_code == 302
    cookie = confirmed.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_COOKIE_SAMESITE == "Lax" and cookie["samesite"] == "Lax" and cookie["httponly"]
    # The same posts from the confirmed session act: the refusal above came from the missing session, nothing else.
    paused = patient.post(f"/s/{token}/", {"action": "pause_auto", "preparation": prep, "note": "x"}, follow=True)
    assert "Automatic refills are paused" in paused.content.decode()
    assert state(order["id"], prep)["paused"] is True
    patient.post(f"/s/{token}/", {"action": "refill", "preparation": prep, "note": "x"}, follow=True)
    assert RefillRequest.objects.filter(preparation__public_id=prep).count() == 1
