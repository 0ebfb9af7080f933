"""The patient status page is exempt from the CSRF token (its Referrer-Policy no-referrer makes browsers post
"Origin: null"). Its refill, renewal and pause forms are safe without it: they act only for a session that confirmed
the date of birth, and that session's cookie is SameSite=Lax, so a cross-site post arrives without it and does nothing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from orders.models import Order, RefillRequest, RenewalRequest
from orders.patient_links import link_token, patient_link_current
from tests.builders import released_job

pytestmark = pytest.mark.django_db


def test_a_forged_post_without_the_confirmed_session_does_nothing(api_as, rivera, staff, ready):
    order, _job = released_job(api_as, rivera, staff, refills=1)
    prep = order["preparations"][0]["id"]
    token = link_token(patient_link_current(order=Order.objects.get(public_id=order["id"])))
    before = (RefillRequest.objects.count(), RenewalRequest.objects.count(), Order.objects.get(public_id=order["id"]).version)
    forger = Client(enforce_csrf_checks=True)  # another site's form: no session cookie (SameSite=Lax keeps it home)
    for action in ("refill", "renewal", "pause_auto", "resume_auto"):
        answer = forger.post(f"/s/{token}/", {"action": action, "preparation": prep, "note": "x"}, HTTP_ORIGIN="https://evil.example")
        assert answer.status_code == 200 and "date of birth" in answer.content.decode().lower()
    assert (RefillRequest.objects.count(), RenewalRequest.objects.count(), Order.objects.get(public_id=order["id"]).version) == before

    patient = Client(enforce_csrf_checks=True)
    confirmed = patient.post(f"/s/{token}/", {"date_of_birth": "1991-04-12"})
    assert confirmed.status_code == 302
    cookie = confirmed.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_COOKIE_SAMESITE == "Lax" and cookie["samesite"] == "Lax" and cookie["httponly"]
