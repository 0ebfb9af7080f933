"""The delivery promise (business days, the daily cut-off, the queue ahead, the carrier's transit days)
and rush orders (asked by the prescriber with a reason, accepted or declined by the pharmacist)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from fulfillment import business_days, promise
from fulfillment.models import Job
from orders.models import Order
from tests.builders import approve, released_job, submit

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


@pytest.fixture(autouse=True)
def pharmacy_calendar(settings):
    settings.TIME_ZONE = "America/New_York"
    settings.PHARMACY_CUTOFF = dt.time(14, 0)
    settings.PHARMACY_LEAD_DAYS = 2
    settings.PHARMACY_RUSH_LEAD_DAYS = 1
    settings.PHARMACY_MIN_DAILY_CAPACITY = 10
    settings.PHARMACY_HOLIDAYS = []


def test_calendar_skips_weekends_and_holidays(settings):
    settings.PHARMACY_HOLIDAYS = ["2026-12-25"]
    assert business_days.add_business_days(dt.date(2026, 12, 4), 1) == dt.date(2026, 12, 7)  # Friday + 1 = Monday
    assert business_days.add_business_days(dt.date(2026, 12, 24), 1) == dt.date(2026, 12, 28)  # over Christmas and the weekend
    assert business_days.add_business_days(dt.date(2026, 12, 5), 0) == dt.date(2026, 12, 7)  # a Saturday counts from Monday
    assert business_days.received_on(at(2026, 12, 4, 13, 59)) == dt.date(2026, 12, 4)
    assert business_days.received_on(at(2026, 12, 4, 14, 0)) == dt.date(2026, 12, 7)


def test_without_the_setting_the_carriers_federal_holidays_are_kept_on_their_observed_day(settings, db):
    settings.PHARMACY_HOLIDAYS = None  # not set: the default calendar
    days = business_days.carrier_holidays(2026)
    assert days[dt.date(2026, 11, 26)] == "Thanksgiving Day"  # the fourth Thursday of November
    assert days[dt.date(2026, 7, 3)] == "Independence Day"  # July 4, 2026 is a Saturday: kept on Friday the 3rd
    assert dt.date(2026, 7, 4) not in days
    assert [d.isoformat() for d in days] == ["2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03",
                                             "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25"]
    assert dt.date(2027, 12, 24) in business_days.carrier_holidays(2027)  # Christmas 2027 on a Saturday
    assert dt.date(2027, 12, 31) in business_days.carrier_holidays(2027)  # New Year's Day 2028 on a Saturday
    assert dt.date(2022, 6, 20) in business_days.carrier_holidays(2022)  # Juneteenth on a Sunday: Monday
    # The promise counts them: signed Wednesday before Thanksgiving, ships two business days later, skipping Thursday.
    assert business_days.add_business_days(dt.date(2026, 11, 25), 2) == dt.date(2026, 11, 30)
    assert business_days.add_business_days(dt.date(2026, 7, 2), 1) == dt.date(2026, 7, 6)  # over the observed Friday
    assert business_days.received_on(at(2026, 11, 26, 9, 0)) == dt.date(2026, 11, 27)
    assert promise.promise_estimate(preparations=1, refrigerate=False, at=at(2026, 11, 25, 9, 0)).ship_date == dt.date(2026, 11, 30)
    # Set, it is the calendar instead (empty: no holidays at all).
    settings.PHARMACY_HOLIDAYS = []
    assert business_days.is_business_day(dt.date(2026, 11, 26))
    settings.PHARMACY_HOLIDAYS = ["2026-11-27"]
    assert business_days.is_business_day(dt.date(2026, 11, 26)) and not business_days.is_business_day(dt.date(2026, 11, 27))


def test_the_holidays_setting_unset_set_and_empty(monkeypatch):
    from portal.env import env_dates

    monkeypatch.delenv("PHARMACY_HOLIDAYS", raising=False)
    assert env_dates("PHARMACY_HOLIDAYS") is None
    monkeypatch.setenv("PHARMACY_HOLIDAYS", "")
    assert env_dates("PHARMACY_HOLIDAYS") == []
    monkeypatch.setenv("PHARMACY_HOLIDAYS", "2026-12-24, 2026-12-31")
    assert env_dates("PHARMACY_HOLIDAYS") == ["2026-12-24", "2026-12-31"]


def test_an_order_signed_just_after_the_friday_cut_off_counts_from_monday(api_as, rivera, ready):
    with time_machine.travel(at(2026, 12, 4, 14, 5), tick=False):  # Friday, five minutes after the 2 pm cut-off
        late = submit(api_as, rivera)
    with time_machine.travel(at(2026, 12, 4, 13, 55), tick=False):  # the same Friday, before it
        early = submit(api_as, rivera, first="Ana")
    # Received Monday the 7th; two business days to verify, compound and check: ships Wednesday the 9th.
    assert late["promised_ship_date"] == "2026-12-09"
    # A preserved cream goes by ground: five business days, over the weekend to the next Wednesday.
    assert late["promised_delivery_date"] == "2026-12-16" and late["estimated_delivery_date"] == "2026-12-16"
    assert late["rush"] == {"status": "none", "reason": "", "answer": ""}
    assert early["promised_ship_date"] == "2026-12-08"  # received Friday: Tuesday
    order = Order.objects.get(public_id=late["id"])
    assert order.promised_ship_date == dt.date(2026, 12, 9)  # kept on the order


def test_a_cold_chain_parcel_goes_overnight(api_as, rivera, ready):
    with time_machine.travel(at(2026, 12, 4, 16, 0), tick=False):  # Friday after the cut-off
        order = submit(api_as, rivera, ingredients=[{"ingredient": "niacinamide", "percent": 4}])  # no preservative: kept cold
    assert order["preparations"][0]["storage"] == "refrigerate"
    assert order["promised_ship_date"] == "2026-12-09"
    assert order["promised_delivery_date"] == "2026-12-10"  # overnight with a cold pack: one business day


def test_the_queue_ahead_pushes_the_promise(api_as, rivera, ready, settings):
    settings.PHARMACY_MIN_DAILY_CAPACITY = 2  # a slow pharmacy: two preparations a day
    with time_machine.travel(at(2026, 12, 7, 9, 0), tick=False):  # Monday morning
        dates = [submit(api_as, rivera, first=f"P{n}")["promised_ship_date"] for n in range(4)]
    # 0 and 1 ahead: today's capacity; 2 and 3 ahead: a day later.
    assert dates == ["2026-12-09", "2026-12-09", "2026-12-10", "2026-12-10"]


def test_measured_throughput_has_a_floor(api_as, rivera, staff, ready, settings):
    settings.PHARMACY_MIN_DAILY_CAPACITY = 3
    assert promise.throughput_per_day() == 3.0
    settings.PHARMACY_MIN_DAILY_CAPACITY = 0.05
    _order, job = released_job(api_as, rivera, staff)
    shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Ground",
                                                        "tracking_number": "SIM-PROMISE-1"}, format="json")
    assert shipped.status_code == 201, shipped.json()
    # One preparation shipped in the last four weeks (20 business days): 0.05 a day.
    assert promise.throughput_per_day() == pytest.approx(1 / business_days.business_days_between(
        dt.date.today() - dt.timedelta(days=28), dt.date.today()))


def test_a_promise_reads_the_queue_and_the_throughput_in_one_query(api_as, rivera, staff, ready, settings):
    """The three counts a promise needs (open jobs, orders awaiting verification, preparations shipped in four weeks) are
    one round trip while an order is signed, and say what the three separate counts say."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.PHARMACY_MIN_DAILY_CAPACITY = 0.05
    approve(staff, submit(api_as, rivera, first="Queued"))  # one open job
    submit(api_as, rivera, first="Waiting")  # one preparation awaiting verification
    now = dt.datetime.now(tz=NY)
    with CaptureQueriesContext(connection) as ctx:
        made = promise.promise_estimate(preparations=1, refrigerate=False, at=now)
    assert len(ctx.captured_queries) == 1
    assert made.ahead == promise.work_ahead(rush=False, signed_before=now) == 2
    assert made.per_day == promise.throughput_per_day(now=now)


def test_rush_accepted_moves_the_job_up_the_queue_and_its_promise_earlier(api_as, rivera, staff, ready, technician):
    doctor = api_as(rivera.user)
    with time_machine.travel(at(2026, 12, 7, 9, 0), tick=False):  # Monday morning
        first, second = submit(api_as, rivera, first="First"), submit(api_as, rivera, first="Second")
        approve(staff, first)
        approve(staff, second)
        before = doctor.get(f"/api/v1/orders/{second['id']}/").json()
        assert before["promised_ship_date"] == "2026-12-09"
        queue = staff["tech"].get("/api/v1/jobs/?status=queued").json()["results"]
        assert [j["order"] for j in queue] == [first["id"], second["id"]]  # oldest first

        asked = doctor.post(f"/api/v1/orders/{second['id']}/rush/", {"reason": "The patient flies abroad on Wednesday."}, format="json")
        assert asked.status_code == 200, asked.json()
        assert asked.json()["rush"] == {"status": "requested", "reason": "The patient flies abroad on Wednesday.", "answer": ""}
        assert staff["tech"].post(f"/api/v1/orders/{second['id']}/rush/accept/").status_code == 403
        assert doctor.post(f"/api/v1/orders/{second['id']}/rush/accept/").status_code == 403
        accepted = staff["pharmacist"].post(f"/api/v1/orders/{second['id']}/rush/accept/")
        assert accepted.status_code == 200, accepted.json()
        body = accepted.json()
        assert body["rush"]["status"] == "accepted"
        assert body["promised_ship_date"] == "2026-12-08"  # rush: one business day, nothing rushed ahead of it
        assert body["estimated_delivery_date"] == "2026-12-15"  # ground, five business days
        assert Job.objects.get(preparation__order__public_id=second["id"]).priority == promise.RUSH_PRIORITY
        claimed = staff["tech"].post("/api/v1/jobs/claim-next/").json()
        assert claimed["order"] == second["id"]  # the rushed job is claimed before the older one
        kinds = [e["kind"] for e in doctor.get(f"/api/v1/orders/{second['id']}/events/").json()["results"]]
        assert "rush_requested" in kinds and "rush_accepted" in kinds


def test_a_rush_asked_before_approval_makes_rushed_jobs(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    assert api_as(rivera.user).post(f"/api/v1/orders/{order['id']}/rush/", {"reason": "Flare before a wedding."},
                                    format="json").status_code == 200
    assert staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/rush/accept/").status_code == 200
    approve(staff, order)
    assert Job.objects.get(preparation__order__public_id=order["id"]).priority == promise.RUSH_PRIORITY


def test_rush_declined_needs_a_reason_and_keeps_the_promise(api_as, rivera, staff, ready):
    order = submit(api_as, rivera)
    doctor = api_as(rivera.user)
    assert doctor.post(f"/api/v1/orders/{order['id']}/rush/", {"reason": "Soon, please."}, format="json").status_code == 200
    refused = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/rush/decline/", {"reason": "  "}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["fields"]
    # Walk #17's kind: a reason over 1000 characters is refused in words, never stored cut.
    too_long = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/rush/decline/", {"reason": "z" * 1500}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["reason"] == ["At most 1000 characters (this has 1500)."]
    declined = staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/rush/decline/",
                                        {"reason": "Every slot this week is taken by cold-chain orders."}, format="json")
    assert declined.status_code == 200
    assert declined.json()["rush"] == {"status": "declined", "reason": "Soon, please.",
                                       "answer": "Every slot this week is taken by cold-chain orders."}
    assert declined.json()["promised_ship_date"] == order["promised_ship_date"]


def test_rush_bad_input(api_as, rivera, chen, staff, ready):
    order = submit(api_as, rivera)
    doctor = api_as(rivera.user)
    empty = doctor.post(f"/api/v1/orders/{order['id']}/rush/", {"reason": ""}, format="json")
    assert empty.status_code == 400
    assert api_as(chen.user).post(f"/api/v1/orders/{order['id']}/rush/", {"reason": "Mine now."}, format="json").status_code == 404
    assert staff["pharmacist"].post(f"/api/v1/orders/{order['id']}/rush/accept/").status_code == 409  # nothing asked yet
    assert doctor.post(f"/api/v1/orders/{order['id']}/rush/", {"reason": "Soon."}, format="json").status_code == 200
    assert doctor.post(f"/api/v1/orders/{order['id']}/rush/", {"reason": "Again."}, format="json").status_code == 409
    assert doctor.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 200
    other = submit(api_as, rivera, first="Other")
    assert doctor.post(f"/api/v1/orders/{other['id']}/cancel/").status_code == 200
    late = doctor.post(f"/api/v1/orders/{other['id']}/rush/", {"reason": "Soon."}, format="json")
    assert late.status_code == 409 and "cancelled" in late.json()["error"]["message"]


def test_shipping_replaces_the_estimate_with_the_carriers(api_as, rivera, staff, ready, settings, client, password):
    settings.SIMULATED_CARRIER_STEP_SECONDS = 86400  # one step a day: delivered three days after shipping
    order, job = released_job(api_as, rivera, staff)
    with time_machine.travel(at(2026, 12, 7, 10, 0), tick=False):
        shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": "Overnight",
                                                            "tracking_number": "SIM-ESTIMATE-1", "cold_pack": True}, format="json")
    assert shipped.status_code == 201, shipped.json()
    answer = api_as(rivera.user).get(f"/api/v1/orders/{order['id']}/").json()
    assert answer["estimated_delivery_date"] == "2026-12-10"
    assert answer["promised_ship_date"] == order["promised_ship_date"]  # the promise stays to be measured against

    # The order page: the carrier's estimate while the parcel travels; once delivered, the day it arrived instead of an
    # estimate (it still said "the carrier expects to deliver it by" a delivered parcel: walk-through wk #14).
    from fulfillment import tracking
    from tests.twofa import sign_in

    with time_machine.travel(at(2026, 12, 8, 10, 0), tick=False):
        sign_in(client, rivera.user, password)
        page = client.get(f"/orders/{order['id']}/").content.decode()
    assert 'the carrier expects to deliver it by <strong data-testid="estimated-delivery">Thursday, December 10</strong>' in page
    with time_machine.travel(at(2026, 12, 11, 10, 0), tick=False):
        tracking.shipments_poll()
        sign_in(client, rivera.user, password)
        page = client.get(f"/orders/{order['id']}/").content.decode()
    assert Order.objects.get(public_id=order["id"]).status == "delivered"
    assert 'delivered <strong data-testid="delivered-on">Thursday, December 10</strong>.' in page and "expects to deliver" not in page


def test_queue_board_marks_each_job_against_its_promise(client, api_as, rivera, staff, ready, technician, password):
    from tests.twofa import sign_in

    orders = [submit(api_as, rivera, first=name) for name in ("Late", "Today", "Later")]
    for order in orders:
        approve(staff, order)
    with time_machine.travel(at(2026, 12, 9, 10, 0), tick=True):
        for order, promised in zip(orders, (dt.date(2026, 12, 8), dt.date(2026, 12, 9), dt.date(2026, 12, 11))):
            Order.objects.filter(public_id=order["id"]).update(promised_ship_date=promised)
        page = sign_in(client, technician, password).get("/pharmacy/queue/").content.decode()
    for order, due, words in zip(orders, ("late", "due_today", "on_time"), ("Late", "Due today", "On time")):
        number = Order.objects.get(public_id=order["id"]).number
        card = page[page.index(f"{number}-1"):]
        card = card[:card.index("</article>")]
        assert f'data-due="{due}"' in card and words in card, (number, card)


def test_the_promise_shows_on_review_order_and_patient_pages(client, rivera, password, staff, api_as, ready):
    """Before signing (review), after (the order page) and for the patient (their status link)."""
    from orders.patient_links import link_token, patient_link_current
    from tests.orders.test_order_pages import form, new_draft
    from tests.twofa import sign_in

    from orders.models import Patient

    patient = Patient.objects.create(clinic=rivera.clinic, first_name="Lena", last_name="Fischer", date_of_birth=dt.date(1978, 1, 27),
                                     address_line1="5 Oak", city="Austin", state="TX", postal_code="78701")
    with time_machine.travel(at(2026, 12, 4, 15, 0), tick=False):  # Friday after the cut-off
        sign_in(client, rivera.user, password)
        draft = new_draft(client, patient)
        client.post(f"/orders/{draft.public_id}/edit/", {**form(patient, lines=(("niacinamide", "4"), ("pe9010", "1"))),
                                                        "action": "review"})
        review = client.get(f"/orders/{draft.public_id}/review/").content.decode()
        assert "If you sign now, the pharmacy expects to ship by <strong>Wednesday, December 9</strong>" in review
        assert "arrive by <strong>Wednesday, December 16</strong>" in review
        signed = client.post(f"/orders/{draft.public_id}/review/", {"attest": "on"}, follow=True).content.decode()
    assert "Promised to ship by <strong>Wednesday, December 9</strong>" in signed
    order = Order.objects.get(pk=draft.pk)
    assert order.promised_ship_date == dt.date(2026, 12, 9) and order.promised_delivery_date == dt.date(2026, 12, 16)
    approve(staff, api_as(rivera.user).get(f"/api/v1/orders/{order.public_id}/").json())
    client.logout()
    token = link_token(patient_link_current(order=order))
    client.post(f"/s/{token}/", {"date_of_birth": "1978-01-27"})
    mine = client.get(f"/s/{token}/").content.decode()
    assert "ship your order by <strong>Wednesday, December 9</strong>" in mine and "Wednesday, December 16" in mine


@pytest.mark.parametrize(("service", "shipped_at", "expected", "words"), [
    ("Overnight", at(2026, 12, 1, 11, 0), "2026-12-02", "Wednesday, December 2"),  # Tuesday: the next day, never the same day
    ("Overnight", at(2026, 12, 4, 15, 0), "2026-12-07", "Monday, December 7"),  # Friday: over the weekend to Monday
    ("Two-day", at(2026, 12, 4, 15, 0), "2026-12-08", "Tuesday, December 8"),  # Friday + two business days
    ("Ground", at(2026, 12, 24, 10, 0), "2027-01-04", "Monday, January 4"),  # over Christmas, a weekend and New Year
])
def test_the_carriers_estimate_is_its_transit_in_business_days_never_the_ship_day(
        client, api_as, rivera, staff, ready, password, settings, service, shipped_at, expected, words):
    """The simulated carrier delivers within seconds in tests; its estimate is still the service's transit."""
    from orders.patient_links import link_token, patient_link_current
    from tests.twofa import sign_in

    settings.PHARMACY_HOLIDAYS = ["2026-12-25", "2027-01-01"]
    order, job = released_job(api_as, rivera, staff)
    with time_machine.travel(shipped_at, tick=False):
        shipped = staff["tech"].post("/api/v1/shipments/", {"jobs": [job["id"]], "carrier": "simulated", "service": service,
                                                            "tracking_number": "SIM-TRANSIT-1", "cold_pack": False}, format="json")
        assert shipped.status_code == 201, shipped.json()
        assert api_as(rivera.user).get(f"/api/v1/orders/{order['id']}/").json()["estimated_delivery_date"] == expected
        page = sign_in(client, rivera.user, password).get(f"/orders/{order['id']}/").content.decode()
        assert f'data-testid="estimated-delivery">{words}</strong>' in page
        client.logout()
        record = Order.objects.get(public_id=order["id"])
        token = link_token(patient_link_current(order=record))
        client.post(f"/s/{token}/", {"date_of_birth": record.patient.date_of_birth.isoformat()})
        mine = client.get(f"/s/{token}/").content.decode()
    assert f"Expected delivery: <strong>{words}</strong>" in mine
