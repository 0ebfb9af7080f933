"""Two refill requests at the same moment for the last remaining refill, on PostgreSQL with real threads
through the API: the preparation's row lock decides them one after the other, so one is made (201) and the
other is refused (409 NO_REFILLS_LEFT), never two jobs."""

import datetime as dt
import threading
import traceback

import pytest
from django.db import connection

from fulfillment.models import Job
from orders.models import RefillRequest
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import released_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def at_once(*calls) -> tuple[list, list]:
    """Run each call in its own thread, released together; (their answers, the tracebacks of any that raised)."""
    barrier = threading.Barrier(len(calls))
    answers, errors = [], []

    def run(call):
        try:
            barrier.wait()
            answers.append(call())
        except Exception:  # collected and asserted by the caller
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, errors


def test_two_requests_for_the_last_refill_make_one(api_as, rivera, pharmacist, technician, formulary, time_machine):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    time_machine.move_to(dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc), tick=False)
    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=1)
    assert staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                     "tracking_number": "SIM-RACE-00"}, format="json").status_code == 201
    time_machine.move_to(dt.datetime(2026, 12, 24, 15, 0, tzinfo=dt.timezone.utc), tick=False)
    url = f"/api/v1/preparations/{order['preparations'][0]['id']}/refills/"
    for attempt in range(3):  # three rounds: each time a fresh last refill, two callers at once
        def ask(client):
            response = client.post(url, {"note": f"round {attempt}"}, format="json")
            return response.status_code, response.json().get("error", {}).get("code")

        answers, errors = at_once(*(lambda client=client: ask(client) for client in (api_as(rivera.user), api_as(pharmacist))))
        print(f"\nround {attempt}: {sorted(answers)} errors {errors}")
        assert errors == []
        assert sorted(answers) == [(201, None), (409, "NO_REFILLS_LEFT")]
        assert RefillRequest.objects.count() == 1 and Job.objects.filter(fill=1).count() == 1
        if attempt < 2:  # undo for the next round: the refill and its job removed, as if never asked
            Job.objects.filter(fill=1).delete()
            RefillRequest.objects.all().delete()


def test_a_renewal_approved_twice_at_once_makes_one_order(api_as, rivera, pharmacist, technician, formulary):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    from orders.models import Order, RenewalRequest
    from tests.factories import PrescriberFactory

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=0)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-RACE-RN"}, format="json")
    renewal = staff["pharmacist"].post(f"/api/v1/preparations/{order['preparations'][0]['id']}/renewal-requests/", {}, format="json").json()
    partner = PrescriberFactory(user__username="partner", clinic=rivera.clinic, states=["CA"])  # a colleague of the same clinic
    url = f"/api/v1/renewal-requests/{renewal['id']}/approve/"
    answers, errors = at_once(*(lambda client=client: client.post(url, {}, format="json").status_code
                                for client in (api_as(rivera.user), api_as(partner.user))))
    print(f"\ntwo approvals at once: {sorted(answers)} errors {errors}")
    assert errors == [] and sorted(answers) == [201, 409]
    assert Order.objects.filter(patient__first_name="Maya").count() == 2
    assert RenewalRequest.objects.get().status == "approved"


def test_signing_a_renewals_draft_while_it_is_approved_through_the_api_never_deadlocks(client, api_as, rivera, pharmacist,
                                                                                       technician, formulary, password):
    """The prescriber signs the renewal's prefilled draft on the page while the renewal is approved through the API.
    Signing used to lock the draft's order row, then the request's; approving locks the request's, then deletes the
    draft: each waited for the other's row and PostgreSQL killed one (a 500). Both now take the request's row first.
    The two are forced to interleave: the signing holds its first lock until the approval has taken its own."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    import threading
    from unittest import mock

    from django.urls import reverse

    from fulfillment import renewals
    from orders import services as order_services
    from orders.models import Order, RenewalRequest
    from tests.twofa import sign_in

    _demo_pharmacy()
    _demo_stock(technician)
    staff = {"pharmacist": api_as(pharmacist), "tech": api_as(technician)}
    order, job = released_job(api_as, rivera, staff, refills=0)
    staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                              "tracking_number": "SIM-RACE-DL"}, format="json")
    renewal = RenewalRequest.objects.get(public_id=staff["pharmacist"].post(
        f"/api/v1/preparations/{order['preparations'][0]['id']}/renewal-requests/", {}, format="json").json()["id"])
    sign_in(client, rivera.user, password)
    review = client.post(reverse("renewal-approve", args=[renewal.public_id]))["Location"]
    signed_before = Order.objects.exclude(status="draft").count()

    signing_locked, approval_locked = threading.Event(), threading.Event()
    transition, decide_check = order_services.order_transition, renewals._decide_check

    def transition_then_wait(**kw):  # the signing holds the draft's row (and, now, the request's) ...
        done = transition(**kw)
        signing_locked.set()
        approval_locked.wait(3)
        return done

    def wait_then_decide_check(*args):  # ... while the approval takes the request's row
        signing_locked.wait(3)
        locked = decide_check(*args)
        approval_locked.set()
        return locked

    api = api_as(rivera.user)
    with mock.patch.object(order_services, "order_transition", transition_then_wait), \
            mock.patch.object(renewals, "_decide_check", wait_then_decide_check):
        answers, errors = at_once(
            lambda: ("sign", client.post(review, {"attest": "on", "note": ""}).status_code),
            lambda: ("api", api.post(f"/api/v1/renewal-requests/{renewal.public_id}/approve/", {}, format="json").status_code))
    print(f"\nsign and approve at once: {sorted(answers)} errors {errors}")
    assert errors == [], errors[0]
    assert sorted(answers) == [("api", 409), ("sign", 302)]  # the signing had the request first; the approval is told it was
    renewal.refresh_from_db()
    assert renewal.status == "approved" and Order.objects.exclude(status="draft").count() == signed_before + 1
    assert renewal.new_order.status == "submitted" and renewal.draft_id is None
