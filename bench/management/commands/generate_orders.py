"""Generate a large order history for scale tests, benchmarks and the metrics, with bulk inserts.

    manage.py generate_orders --orders 100000 --preparations 3

Orders are signed over the last year (by every prescriber of the demo data, for their clinic's
patients) and each one lives a plausible life from its signature: verification (a tenth with a
clarification question and answer, a few rejected), then per preparation a job that waits in the
queue, is claimed, compounded, checked (some fail QC once and are remade), released by the
pharmacist, shipped in one parcel per order and delivered. Whatever has not happened yet by now
has not happened: recent orders are still in verification or somewhere in the queue. Each order
carries the delivery promise made when it was signed; a few were rushed. Runs on top of the demo
data (`manage.py demo_data`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import secrets
import time
import uuid
from decimal import Decimal

import pgtrigger
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from fulfillment.business_days import add_business_days
from fulfillment.models import CompoundingRecord, Job, JobStatus, QCResult, Shipment, ShipmentStatus
from fulfillment.promise import RUSH_PRIORITY, promise_compute
from fulfillment.tracking import beyond_use_days_left
from orders.models import Order, OrderEvent, OrderStatus, Patient, Preparation, PreparationStatus, Prescriber
from portal.models import User

CHECKED = {"ok": True, "findings": [], "aqueous": False, "preserved": False, "storage": "room_or_refrigerate",
           "storage_text": "Store at 20–25 °C or in a refrigerator", "beyond_use_days": 180, "substances": [],
           "batch": {"quantity": 31.5, "unit": "g", "minimum_weighable_g": 0.12,
                     "lines": [{"item": "ointment-base", "name": "Ointment base", "kind": "base", "share_percent": 100.0,
                                "quantity": 31.5, "below_minimum_weighable": False, "lots": []}]}}
# (weight, base name, actives, beyond-use days, storage): the mix of formulations prescribed.
FORMULATIONS = [
    (30, "Ointment base", [], 180, "room_or_refrigerate"),
    (20, "Oil-in-water cream base, preserved", [("Niacinamide", 4.0), ("Panthenol", 2.0)], 35, "room_or_refrigerate"),
    (15, "Oil-in-water cream base, preservative-free", [("Lactobacillus ferment lysate", 5.0)], 14, "refrigerate"),
    (10, "Hydrophilic gel base", [("Azelaic acid", 10.0)], 35, "room_or_refrigerate"),
    (10, "Oil-in-water cream base, preserved", [("Inulin", 2.0), ("Bifida ferment lysate", 3.0)], 35, "room_or_refrigerate"),
    (8, "Scalp solution base", [("Minoxidil", 5.0)], 90, "room_or_refrigerate"),
    (7, "Anhydrous balm base", [("Ceramide complex", 3.0)], 90, "room_or_refrigerate"),
]
CLARIFY_SHARE, REJECT_SHARE, QC_FAIL_SHARE, RUSH_SHARE, HOLD_SHARE = 0.10, 0.02, 0.07, 0.03, 0.01
HOUR = dt.timedelta(hours=1)


@contextlib.contextmanager
def stamps_as_given(*fields):
    """Let bulk inserts keep the times we give instead of auto_now_add's 'now' (history is generated)."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


class Command(BaseCommand):
    help = "Bulk-insert many signed orders with a year of history (for scale tests, benchmarks and the metrics)."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=100_000)
        parser.add_argument("--preparations", type=int, default=3, help="preparations (and jobs) per order")
        parser.add_argument("--patients", type=int, default=5_000)
        parser.add_argument("--batch", type=int, default=2_000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--days", type=int, default=365, help="spread the signatures over this many days before now")
        parser.add_argument("--without-history", action="store_true",
                            help="skip the change-history triggers for these inserts (several times faster; the audit "
                                 "search bench wants the history, the metrics and scale benches do not)")

    def handle(self, *args, orders, preparations, patients, batch, seed, days, without_history=False, **options):
        if orders < 1 or not 1 <= preparations <= 20 or days < 1:
            raise CommandError("--orders and --days must be positive and --preparations 1–20.")
        prescribers = list(Prescriber.objects.select_related("clinic", "user").order_by("pk"))
        staff = User.objects.filter(role__in=["technician", "pharmacist", "pharmacy_admin"]).order_by("pk").first()
        if not prescribers or staff is None:
            raise CommandError("Load the demo data first: manage.py demo_data")
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.staff = staff
        started = time.monotonic()
        self.patients = self._patients(prescribers, patients, batch)
        # The first prescriber signs most orders; the others share the rest.
        weights = [6] + [max(1, 4 // max(1, len(prescribers) - 1))] * (len(prescribers) - 1)
        numbers = set(Order.objects.values_list("number", flat=True))
        done = 0
        fields = [Order._meta.get_field("created_at"), Job._meta.get_field("created_at"), OrderEvent._meta.get_field("created_at"),
                  CompoundingRecord._meta.get_field("recorded_at"), QCResult._meta.get_field("recorded_at")]
        quiet = pgtrigger.ignore() if without_history and connection.vendor == "postgresql" else contextlib.nullcontext()
        with stamps_as_given(*fields), quiet:
            while done < orders:
                size = min(batch, orders - done)
                with transaction.atomic():
                    self._chunk(size, preparations, prescribers, weights, numbers, done, days)
                done += size
                self.stdout.write(f"  {done:,} orders ({time.monotonic() - started:.0f} s)")
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(
            f"Generated {orders:,} orders, {orders * preparations:,} preparations in {time.monotonic() - started:.0f} s."))

    def _patients(self, prescribers, patients, batch) -> dict[int, list[int]]:
        by_clinic = {}
        for index, prescriber in enumerate(prescribers):
            clinic = prescriber.clinic
            if clinic.pk in by_clinic:
                continue
            want = patients if index == 0 else max(50, patients // 20)
            have = Patient.objects.filter(clinic=clinic).count()
            Patient.objects.bulk_create(
                [Patient(clinic=clinic, first_name=f"Scale{i}", last_name=f"Patient{clinic.pk}-{i}",
                         date_of_birth=dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28), address_line1=f"{i} Scale St", city="Oakland",
                         state="CA", postal_code="94607") for i in range(have, want)], batch_size=batch)
            by_clinic[clinic.pk] = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
        return by_clinic

    def _hours(self, median: float, spread: float = 0.8) -> dt.timedelta:
        return HOUR * self.rng.lognormvariate(math.log(median), spread)

    def _chunk(self, size, preparations, prescribers, weights, numbers, offset, days):
        rng, now = self.rng, self.now
        plans, chunk = [], []
        for i in range(size):
            signed = now - dt.timedelta(seconds=rng.randint(0, days * 86400))
            number = f"RX-{signed:%y%m}-{secrets.randbelow(10**6):06d}"
            while number in numbers:
                number = f"RX-{signed:%y%m}-{secrets.randbelow(10**6):06d}"
            numbers.add(number)
            prescriber = rng.choices(prescribers, weights=weights)[0]
            formulations = rng.choices(FORMULATIONS, weights=[f[0] for f in FORMULATIONS], k=preparations)
            plan = self._order_life(signed, formulations)
            order = Order(public_id=uuid.uuid4(), number=number, clinic=prescriber.clinic, prescriber=prescriber,
                          patient_id=rng.choice(self.patients[prescriber.clinic_id]), status=plan["status"], source="api",
                          external_id=f"EXT-{offset + i}", ship_to_line1="1 Scale St", ship_to_city="Oakland", ship_to_state="CA",
                          ship_to_postal_code="94607", encounter_state="CA", rules_version="generated", signed_at=signed,
                          signed_by=prescriber.user, attestation="generated", event_sequence=len(plan["events"]), created_at=signed,
                          promised_ship_date=plan["promise"].ship_date, promised_delivery_date=plan["promise"].delivery_date,
                          estimated_delivery_date=plan["estimated_delivery"], rush=plan["rush"] or "none",
                          rush_reason="Patient travelling next week." if plan["rush"] else "")
            chunk.append(order)
            plans.append((plan, formulations))
        Order.objects.bulk_create(chunk)
        events, shipments, shipped_orders, preps = [], [], [], []
        for order, (plan, formulations) in zip(chunk, plans):
            events += [OrderEvent(order=order, sequence=n + 1, kind=kind, to_status=to, created_at=at,
                                  actor=order.signed_by if kind in ("signed", "clarification_answered", "rush_requested") else self.staff,
                                  message=message) for n, (kind, to, at, message) in enumerate(plan["events"])]
            if plan["shipment"]:
                ship = plan["shipment"]
                shipped_orders.append(order)
                shipments.append(Shipment(public_id=uuid.uuid4(), patient_id=order.patient_id, carrier="simulated", service=ship["service"],
                                          tracking_number=f"GEN-{uuid.uuid4().hex[:20]}", cold_pack=ship["service"] == "Overnight",
                                          status=ship["status"], shipped_by=self.staff, shipped_at=ship["at"],
                                          delivered_at=ship["delivered_at"], estimated_delivery_date=ship["estimate"]))
            for p, (formulation, job) in enumerate(zip(formulations, plan["jobs"])):
                _w, base, actives, bud, storage = formulation
                preps.append(Preparation(
                    public_id=uuid.uuid4(), order=order, position=p + 1, base_code="ointment-base", base_name=base,
                    quantity=Decimal(30), unit="g", checked=CHECKED, beyond_use_days=bud, storage=storage, exclusions={},
                    ingredients=[{"ingredient": name.lower().replace(" ", "-"), "name": name, "percent": pct, "share_percent": pct}
                                 for name, pct in actives],
                    status=job["status"] if job else plan["prep_status"]))
        OrderEvent.objects.bulk_create(events)
        Shipment.objects.bulk_create(shipments)
        Shipment.orders.through.objects.bulk_create([Shipment.orders.through(shipment_id=s.pk, order_id=order.pk)
                                                     for s, order in zip(shipments, shipped_orders)])
        shipment_of = {order.pk: s for s, order in zip(shipments, shipped_orders)}
        Preparation.objects.bulk_create(preps)
        jobs, records, checks = [], [], []
        by_order = {order.pk: plan for order, (plan, _f) in zip(chunk, plans)}
        for prep in preps:
            plan = by_order[prep.order_id]
            job = plan["jobs"][prep.position - 1]
            if job is None:
                continue
            shipment = shipment_of.get(prep.order_id) if job["shipped"] else None
            jobs.append(Job(public_id=uuid.uuid4(), number=f"{prep.order.number}-{prep.position}", preparation=prep, status=job["status"],
                            priority=RUSH_PRIORITY if plan["rush"] == "accepted" else self.rng.choice((0, 0, 0, 0, 1)),
                            created_at=job["created"], claimed_at=job["claimed"], claimed_by=self.staff if job["claimed"] else None,
                            verified_at=job["verified"], verified_by=self.staff if job["verified"] else None, shipment=shipment,
                            **self._delivery(prep, job, shipment), **self._hold(job)))
        Job.objects.bulk_create(jobs)
        for job_row in jobs:
            job = by_order[job_row.preparation.order_id]["jobs"][job_row.preparation.position - 1]
            if job["recorded"]:
                records.append(CompoundingRecord(job=job_row, attempt_of=job_row, recorded_by=self.staff, recorded_at=job["recorded"],
                                                 theoretical_grams=Decimal("31.5"), actual_yield_grams=Decimal("31.4"),
                                                 yield_percent=Decimal("99.68")))
            checks += [QCResult(job=job_row, appearance_ok=passed, fill_weight=Decimal(30), passed=passed,
                                problems=[] if passed else ["Appearance is not as specified: smooth, uniform."],
                                recorded_by=self.staff, recorded_at=at) for at, passed in job["checks"]]
        CompoundingRecord.objects.bulk_create(records)
        QCResult.objects.bulk_create(checks)

    @staticmethod
    def _hold(job: dict) -> dict:
        """A held job says why, and where it resumes (the job_hold_has_reason constraint)."""
        if job["status"] != JobStatus.ON_HOLD:
            return {}
        return {"hold_reason": "Waiting for a lot to be released.", "held_from": JobStatus.QUEUED}

    @staticmethod
    def _delivery(prep, job: dict, shipment) -> dict:
        """What the carrier's delivery keeps on a job (fulfillment.tracking.delivery_facts)."""
        if shipment is None or shipment.delivered_at is None:
            return {}
        left = None if job["recorded"] is None else beyond_use_days_left(
            beyond_use_days=prep.beyond_use_days, recorded_at=job["recorded"], delivered_at=shipment.delivered_at)
        return {"delivered_at": shipment.delivered_at, "beyond_use_days_left": left}

    def _order_life(self, signed: dt.datetime, formulations) -> dict:
        """Every step's time from the signature on; only the steps already in the past happen."""
        rng, now = self.rng, self.now

        def past(at):
            return at is not None and at <= now

        rush = "accepted" if rng.random() < RUSH_SHARE else ""
        refrigerate = any(f[4] == "refrigerate" for f in formulations)
        service, transit = ("Overnight", 1) if refrigerate else ("Ground", 5)
        per_day = 800.0
        promise = promise_compute(at=signed, ahead=rng.randint(0, 900), own=len(formulations), per_day=per_day, service=service,
                                  transit_days=transit, rush=bool(rush))
        events = [("signed", OrderStatus.SUBMITTED, signed, "")]
        if rush:
            events.append(("rush_requested", "", signed + dt.timedelta(minutes=5), "Patient travelling next week."))
        at = signed + self._hours(3)
        status, prep_status = OrderStatus.SUBMITTED, PreparationStatus.PENDING
        if rng.random() < CLARIFY_SHARE:
            asked, answered = at, at + self._hours(6, 0.9)
            if past(asked):
                events.append(("clarification_requested", OrderStatus.CLARIFICATION_REQUESTED, asked, "Which strength did you mean?"))
                status = OrderStatus.CLARIFICATION_REQUESTED
            if past(answered):
                events.append(("clarification_answered", OrderStatus.SUBMITTED, answered, "4 %, as written."))
                status = OrderStatus.SUBMITTED
            at = answered + self._hours(2)
        if rush and past(signed + HOUR):
            events.append(("rush_accepted", "", signed + HOUR, ""))
        approved = at
        plan = {"rush": rush, "promise": promise, "events": events, "status": status, "prep_status": prep_status, "shipment": None,
                "jobs": [None] * len(formulations), "estimated_delivery": promise.delivery_date}
        if not past(approved):
            if rush and not past(signed + HOUR):
                plan["rush"] = "requested"
            return plan
        if rng.random() < REJECT_SHARE:
            events.append(("rejected", OrderStatus.REJECTED, approved, "Strength outside the usual range; call the clinic."))
            plan.update(status=OrderStatus.REJECTED, prep_status=PreparationStatus.CANCELLED, rush="declined" if rush else "")
            return plan
        events.append(("approved", OrderStatus.APPROVED, approved, ""))
        plan["status"] = OrderStatus.APPROVED
        speed = 0.25 if rush else 1.0
        verified_all = []
        for index in range(len(formulations)):
            claimed = approved + self._hours(18 * speed, 0.9)
            recorded = claimed + self._hours(1.2, 0.5)
            checks, qc_done = [], recorded + self._hours(1, 0.6)
            if rng.random() < QC_FAIL_SHARE:
                checks.append((qc_done, False))
                qc_done = qc_done + self._hours(5, 0.6)  # remade and checked again
            checks.append((qc_done, True))
            verified = qc_done + self._hours(2, 0.7)
            verified_all.append(verified)
            plan["jobs"][index] = {"created": approved, "claimed": claimed if past(claimed) else None,
                                   "recorded": recorded if past(recorded) else None,
                                   "checks": [(t, ok) for t, ok in checks if past(t)], "verified": verified if past(verified) else None,
                                   "shipped": False, "hold": rng.random() < HOLD_SHARE}
        shipped_at = max(verified_all) + self._hours(6, 0.8)
        if past(shipped_at):
            transit_days = transit + (1 if rng.random() < 0.1 else 0)  # a tenth of parcels take a day longer than the carrier says
            delivered_at = timezone.make_aware(dt.datetime.combine(
                add_business_days(timezone.localtime(shipped_at).date(), transit_days), dt.time(11, 0))) + dt.timedelta(
                minutes=rng.randint(0, 420))
            estimate = add_business_days(timezone.localtime(shipped_at).date(), transit)
            plan["shipment"] = {"service": service, "at": shipped_at, "delivered_at": delivered_at if past(delivered_at) else None,
                                "status": ShipmentStatus.DELIVERED if past(delivered_at) else ShipmentStatus.IN_TRANSIT,
                                "estimate": estimate}
            plan["estimated_delivery"] = estimate
        for job in plan["jobs"]:
            job["status"] = self._status(job, plan["shipment"])
            job["shipped"] = job["status"] in (JobStatus.SHIPPED, JobStatus.DELIVERED)
        return plan

    @staticmethod
    def _status(job: dict, shipment: dict | None) -> str:
        if shipment is not None:
            return JobStatus.DELIVERED if shipment["delivered_at"] is not None else JobStatus.SHIPPED
        if job["verified"]:
            return JobStatus.READY
        if job["checks"] and job["checks"][-1][1] is False:
            return JobStatus.REWORK
        if job["recorded"]:
            return JobStatus.QC
        if job["claimed"]:
            return JobStatus.COMPOUNDING
        return JobStatus.ON_HOLD if job["hold"] else JobStatus.QUEUED
