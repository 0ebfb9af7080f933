"""Two refill requests at the same moment for the last remaining refill, on PostgreSQL with real threads
through the API: the preparation's row lock decides them one after the other, so one is made (201) and the
other is refused (409 NO_REFILLS_LEFT), never two jobs."""

import datetime as dt
import threading
import time
import traceback

import pytest
from django.db import connection

from fulfillment.models import Job
from orders.models import RefillRequest
from portal.demo import _demo_pharmacy, _demo_stock
from tests.builders import at_once, released_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


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


def test_signing_a_renewal_draft_takes_the_renewal_lock_before_the_draft(api_as, rivera, staff, ready, time_machine):
    """Deciding a renewal locks the request, then discards its draft; signing the draft must take the same two locks in
    the same order. It took the draft's first and then waited for the request: a decision at that moment deadlocked,
    and PostgreSQL ended one of them with an error page. Here a decision holds the request's lock while the draft is
    signed: the draft must stay free for it, and the signing goes on once the decision lets go."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    from django.db import DatabaseError, transaction

    from fulfillment.renewals import renewal_change_start
    from orders import services
    from orders.models import Order, RenewalRequest
    from orders.views import run_checks
    from tests.fulfillment.test_refills import START, prep_id, ship

    time_machine.move_to(START, tick=False)
    order, job0 = released_job(api_as, rivera, staff, refills=0)
    ship(staff, job0["id"], "SIM-RENEW-LOCK")
    refused = staff["tech"].post(f"/api/v1/preparations/{prep_id(order)}/refills/", {}, format="json")
    renewal = RenewalRequest.objects.get(public_id=refused.json()["error"]["renewal_request"])
    draft = renewal_change_start(renewal=renewal, by=rivera.user)
    body = run_checks(user=rivera.user, body=draft.draft)["validated"]
    holding, answers, errors = threading.Event(), {}, []

    def decide():  # what renewal_approve and renewal_deny do first: the request's lock, then the draft's
        try:
            with transaction.atomic():
                RenewalRequest.objects.select_for_update().get(pk=renewal.pk)
                holding.set()
                time.sleep(1.5)  # the signing below reaches the lock it waits for
                try:
                    Order.objects.select_for_update(nowait=True).get(pk=draft.pk)
                    answers["draft free"] = True
                except DatabaseError:
                    answers["draft free"] = False
        except Exception:  # collected and asserted below
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    def sign():
        try:
            holding.wait(10)
            answers["signed"] = services.order_submit(user=rivera.user, body=body, source="web", draft=draft).status
        except Exception:  # collected and asserted below
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=decide), threading.Thread(target=sign)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert answers == {"draft free": True, "signed": "submitted"}
    renewal.refresh_from_db()
    assert renewal.status == "approved" and renewal.new_order_id == draft.pk
