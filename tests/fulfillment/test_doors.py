"""The two doors (orders.transitions for an order, fulfillment.transitions for a job): every (from, to)
pair of each status against every role, allowed exactly as the transition table says; refused moves
recorded for real once the refused change has rolled back; and an order's cancel reaching its jobs
through the job door (domain events), each with its event, version bump and webhook, in sequence."""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.db import IntegrityError, transaction

from fulfillment import transitions as job_door
from fulfillment.models import Job, JobStatus, WebhookDelivery, WebhookEvent
from orders import transitions as order_door
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus, PreparationStatus
from portal.errors import record_refusal
from tests.builders import Receiver, approve, approve_mfrs, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(rivera, pharmacist, technician, pharmacy_admin):
    return {"prescriber": rivera.user, "pharmacist": pharmacist, "technician": technician, "pharmacy_admin": pharmacy_admin}


def _refused_events(order: Order) -> int:
    return OrderEvent.objects.filter(order=order, kind=OrderEventKind.TRANSITION_REFUSED).count()


def test_the_order_door_allows_exactly_its_table_for_every_role(api_as, rivera, people, ready):
    order = Order.objects.get(public_id=submit(api_as, rivera)["id"])
    checked = 0
    for (frm, to), (role, user) in itertools.product(itertools.product(OrderStatus.values, repeat=2), people.items()):
        if frm == OrderStatus.DRAFT:
            continue  # a signed order never goes back to draft; drafts are tested below with a draft
        Order.objects.filter(pk=order.pk).update(status=frm)
        order.refresh_from_db()
        allowed = role in order_door.TRANSITIONS.get((frm, to), frozenset())
        assert order_door.may_transition(order=order, to=to, by=user) is allowed
        refused_before, version_before = _refused_events(order), order.version
        try:
            with transaction.atomic():
                moved = order_door.order_transition(order=order, to=to, by=user)
        except order_door.IllegalTransition as exc:
            assert not allowed, (frm, to, role, exc.message)
            record_refusal(exc)
            assert _refused_events(order) == refused_before + 1, (frm, to, role)
            order.refresh_from_db()
            assert order.status == frm
        else:
            assert allowed, (frm, to, role)
            assert moved.status == to and moved.version == version_before + 1
            assert order.events.order_by("-sequence").first().to_status == to
        checked += 1
    assert checked == (len(OrderStatus.values) - 1) * len(OrderStatus.values) * 4  # from every signed status, to every status, by every role


def test_a_draft_moves_only_as_its_table_says(api_as, rivera, people, ready):
    """A draft is signed by its prescriber (order_submit's tests) and nothing else: every other move and role is refused
    and recorded. (A draft is discarded, never cancelled: a cancelled order is a signed one.)"""
    from orders.services import order_draft_create, prescriber_of

    draft = order_draft_create(prescriber=prescriber_of(rivera.user), by=rivera.user)
    refusals = 0
    for (role, user), to in itertools.product(people.items(), OrderStatus.values):
        allowed = role in order_door.TRANSITIONS.get((OrderStatus.DRAFT, to), frozenset())
        assert order_door.may_transition(order=draft, to=to, by=user) is allowed
        if allowed:
            continue
        with pytest.raises(order_door.IllegalTransition) as caught, transaction.atomic():
            order_door.order_transition(order=draft, to=to, by=user)
        record_refusal(caught.value)
        refusals += 1
        assert _refused_events(draft) == refusals, (to, role)
    assert refusals == 4 * len(OrderStatus.values) - 1  # all but the prescriber's signature


def test_cancelling_an_unsigned_draft_through_the_api_says_to_discard_it(api_as, rivera, ready):
    """It answered 500 (the database refused a cancelled order with no signature); now a plain 409 and nothing written."""
    from orders.services import order_draft_create, prescriber_of

    draft = order_draft_create(prescriber=prescriber_of(rivera.user), by=rivera.user)
    events = draft.events.count()
    answer = api_as(rivera.user).post(f"/api/v1/orders/{draft.public_id}/cancel/", {"reason": "not needed"}, format="json")
    assert answer.status_code == 409, answer.content
    error = answer.json()["error"]
    assert error["code"] == "illegal_transition" and "discard the draft" in error["message"]
    draft.refresh_from_db()
    assert draft.status == OrderStatus.DRAFT and draft.events.count() == events


def test_the_job_door_allows_exactly_its_table_for_every_role_and_the_system(api_as, rivera, staff, people, ready):
    approve(staff, submit(api_as, rivera))
    job = Job.objects.get()
    actors = {**people, "system": None}
    checked = 0
    for (frm, to), (role, user) in itertools.product(itertools.product(JobStatus.values, repeat=2), actors.items()):
        # A held job carries its reason and where it was held from (issue 18's constraint): kept on every row here, so
        # a move onto hold and a move from it are both possible states; the door is what is under test.
        Job.objects.filter(pk=job.pk).update(status=frm, hold_reason="checking the door", held_from=JobStatus.QUEUED)
        job.refresh_from_db()
        allowed = role in job_door.TRANSITIONS.get((frm, to), frozenset())
        refused_before, version_before = _refused_events(job.preparation.order), job.version
        try:
            with transaction.atomic():
                moved = job_door.job_transition(job=job, to=to, by=user)
        except order_door.IllegalTransition as exc:
            assert not allowed, (frm, to, role, exc.message)
            record_refusal(exc)
            assert _refused_events(job.preparation.order) == refused_before + 1, (frm, to, role)
            job.refresh_from_db()
            assert job.status == frm
        else:
            assert allowed, (frm, to, role)
            assert moved.status == to and moved.version == version_before + 1
            assert moved.preparation.status == to
        checked += 1
    assert checked == 9 * 9 * 5


def test_a_refused_move_inside_a_transaction_is_recorded_after_its_rollback(api_as, rivera, staff, technician, ready):
    """Claiming a job someone already has: job_claim holds a transaction (claim and worksheet together),
    which the refusal rolls back; the refusal itself is still recorded, by the API's entry point."""
    approve(staff, submit(api_as, rivera))
    job = staff["tech"].post("/api/v1/jobs/claim-next/").json()
    order = Job.objects.get(public_id=job["id"]).preparation.order
    again = staff["tech"].post(f"/api/v1/jobs/{job['id']}/claim/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    refused = OrderEvent.objects.get(order=order, kind=OrderEventKind.TRANSITION_REFUSED)
    assert refused.from_status == "compounding" and refused.to_status == "compounding" and refused.actor == technician
    assert Job.objects.get(public_id=job["id"]).worksheets.count() == 1  # the refused claim's worksheet was rolled back


def test_both_doors_record_refusals_alike_through_pages_and_the_api(client, api_as, rivera, staff, technician, ready):
    order = submit(api_as, rivera)
    # the order door, through the API: a technician cannot approve (the records it follows are approved first, so the
    # door is what refuses)
    approve_mfrs(staff["pharmacist"], order)
    refused = staff["tech"].post(f"/api/v1/orders/{order['id']}/approve/", {"acknowledged_warnings": ["AW_NOT_MEASURED"]}, format="json")
    assert refused.status_code == 409
    db_order = Order.objects.get(public_id=order["id"])
    event = OrderEvent.objects.get(order=db_order, kind=OrderEventKind.TRANSITION_REFUSED)
    assert (event.from_status, event.to_status, event.actor, event.preparation) == ("submitted", "approved", technician, None)
    # the job door, through a page: a prescriber's order cannot be cancelled once compounding has started (the order door
    # refuses that with its own rule); a technician cannot put a job on hold (the job door's table)
    approve(staff, order)
    job = Job.objects.get(preparation__order=db_order)
    with pytest.raises(order_door.IllegalTransition) as caught, transaction.atomic():
        job_door.job_transition(job=job, to=JobStatus.ON_HOLD, by=technician)
    assert _refused_events(db_order) == 1  # nothing written while the transaction was being rolled back
    record_refusal(caught.value)
    record_refusal(caught.value)  # an entry point records it once, however often it is asked
    job_event = OrderEvent.objects.filter(order=db_order, kind=OrderEventKind.TRANSITION_REFUSED).order_by("-sequence").first()
    assert (job_event.from_status, job_event.to_status, job_event.preparation_id) == ("queued", "on_hold", job.preparation_id)
    assert _refused_events(db_order) == 2


def test_cancelling_an_approved_order_cancels_each_job_through_its_door_and_tells_the_receiver_in_sequence(
        api_as, rivera, staff, ready, settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    holder = {}
    receiver = Receiver(holder)
    try:
        endpoint = api_as(rivera.user).post("/api/v1/webhooks/", {"url": receiver.url, "event_types": [
            "order.status_changed", "preparation.status_changed"]}, format="json").json()
        holder["secret"] = endpoint["secret"]
        two = {"ingredients": [{"ingredient": "niacinamide", "percent": 4}], "base": "cream-base-pf", "quantity": 50, "unit": "g",
               "target_ph": 5.0, "directions": "Apply nightly."}
        body = {"patient": {"first_name": "Maya", "last_name": "Lopez", "date_of_birth": "1991-04-12"},
                "ship_to": {"line1": "1 Main St", "city": "Oakland", "state": "CA", "postal_code": "94601"}, "preparations": [two, two]}
        order = api_as(rivera.user).post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).json()
        approve(staff, order)
        db_order = Order.objects.get(public_id=order["id"])
        jobs = list(Job.objects.filter(preparation__order=db_order).order_by("pk"))
        assert [j.status for j in jobs] == ["queued", "queued"] and [j.version for j in jobs] == [1, 1]
        events_before = WebhookEvent.objects.filter(order=db_order).count()

        cancelled = api_as(rivera.user).post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "Patient changed their mind"},
                                             format="json")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        for job in jobs:
            job.refresh_from_db()
        assert [j.status for j in jobs] == ["cancelled", "cancelled"] and [j.version for j in jobs] == [2, 2]
        assert [p.status for p in db_order.preparations.order_by("position")] == [PreparationStatus.CANCELLED] * 2
        job_events = OrderEvent.objects.filter(order=db_order, kind=OrderEventKind.JOB_STATUS, to_status="cancelled")
        assert sorted(e.preparation_id for e in job_events) == sorted(j.preparation_id for j in jobs)
        new = list(WebhookEvent.objects.filter(order=db_order).order_by("sequence"))[events_before:]
        assert [e.type for e in new] == ["order.status_changed", "preparation.status_changed", "preparation.status_changed"]
        assert [e.sequence for e in new] == [events_before + 1, events_before + 2, events_before + 3]
        assert {e.payload["data"]["status"] for e in new} == {"cancelled"}

        for delivery in WebhookDelivery.objects.filter(status="pending").order_by("event__sequence"):
            from fulfillment.notifications import webhooks

            webhooks.webhook_deliver(delivery_id=delivery.pk)
        got = [r["body"]["data"] for r in receiver.received if r["body"]["data"]["order_id"] == order["id"]]
        sequences = [d["sequence"] for d in got]
        assert sequences == sorted(sequences) and sequences[-3:] == [events_before + 1, events_before + 2, events_before + 3]
        assert [d.get("preparation_id") is not None for d in got[-3:]] == [False, True, True] and all(receiver.verified)
    finally:
        receiver.close()


def test_a_receiver_that_refuses_undoes_the_cancel_and_nothing_is_half_written(api_as, rivera, staff, ready):
    """Receivers run in the door's transaction: one that refuses (as the job door does for a job that moved
    meanwhile) rolls the order's cancel back with every job already cancelled and every webhook queued."""
    order = submit(api_as, rivera)
    approve(staff, order)
    db_order = Order.objects.get(public_id=order["id"])
    job = Job.objects.get(preparation__order=db_order)
    webhooks_before = WebhookEvent.objects.filter(order=db_order).count()

    def stale_job_cancel(sender, event, **kwargs):
        if event.kind == OrderEventKind.JOB_STATUS and event.to_status == "cancelled":
            raise order_door.IllegalTransition(f"Job {job.number} was changed by someone else.")

    from orders.events import order_event_recorded

    order_event_recorded.connect(stale_job_cancel, dispatch_uid="test-stale")
    try:
        response = api_as(rivera.user).post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    finally:
        order_event_recorded.disconnect(dispatch_uid="test-stale")
    assert response.status_code == 409
    db_order.refresh_from_db()
    job.refresh_from_db()
    assert db_order.status == "approved" and job.status == "queued"
    assert not OrderEvent.objects.filter(order=db_order, kind=OrderEventKind.CANCELLED).exists()
    assert WebhookEvent.objects.filter(order=db_order).count() == webhooks_before


def test_event_kinds_and_webhook_sequences_are_kept_by_the_database(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    db_order = Order.objects.get(public_id=order["id"])
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderEvent.objects.create(order=db_order, sequence=999, kind="made_up")
    first = WebhookEvent.objects.filter(order=db_order).order_by("sequence").first()
    assert first is not None and db_order.webhook_sequence == WebhookEvent.objects.filter(order=db_order).count()
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEvent.objects.create(public_id="evt_dup", clinic=db_order.clinic, order=db_order, type=first.type,
                                    sequence=first.sequence, payload={})


def test_a_hold_posted_twice_from_the_job_page_is_refused_and_the_refusal_recorded(client, api_as, rivera, staff, pharmacist,
                                                                                    password, ready):
    """A double click on "Put on hold": the first holds the job, the second is refused by the job door (a job on hold
    cannot be held again) with a message on the page, and the refused move on_hold → on_hold is recorded."""
    from tests.twofa import sign_in

    order = submit(api_as, rivera)
    approve(staff, order)
    job = Job.objects.get(preparation__order__public_id=order["id"])
    db_order = job.preparation.order
    sign_in(client, pharmacist, password)
    first = client.post(f"/pharmacy/jobs/{job.public_id}/hold/", {"reason": "Waiting for the base to arrive"}, follow=True)
    assert first.status_code == 200 and "is on hold" in first.content.decode()
    job.refresh_from_db()
    assert (job.status, job.hold_reason, job.held_from) == ("on_hold", "Waiting for the base to arrive", "queued")
    assert _refused_events(db_order) == 0
    version = job.version

    second = client.post(f"/pharmacy/jobs/{job.public_id}/hold/", {"reason": "Clicked again"}, follow=True)
    assert second.status_code == 200
    assert f'<li class="error">Job {job.number} is already on hold.</li>' in second.content.decode()  # said, not a success
    job.refresh_from_db()
    assert (job.status, job.hold_reason, job.held_from) == ("on_hold", "Waiting for the base to arrive", "queued")
    assert job.version == version  # the refused hold changed nothing
    refused = OrderEvent.objects.get(order=db_order, kind=OrderEventKind.TRANSITION_REFUSED)
    assert (refused.from_status, refused.to_status, refused.actor, refused.preparation_id) == ("on_hold", "on_hold", pharmacist,
                                                                                                job.preparation_id)
