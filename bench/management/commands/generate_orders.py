"""Generate a large order history for scale tests and benchmarks, with bulk inserts.

    BENCH_ENDPOINTS=1 manage.py generate_orders --orders 100000 --preparations 3

(the bench app, and so this command, is installed only with BENCH_ENDPOINTS=1)

Orders are signed, spread over the last year, across statuses; each preparation is a job in a
realistic mix of queue states. Runs on top of the demo data (`manage.py demo_data`)."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
import uuid
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from fulfillment.models import Job, JobStatus
from orders.models import Order, OrderEvent, OrderStatus, Patient, Preparation, Prescriber

JOB_MIX = [(JobStatus.DELIVERED, 70), (JobStatus.SHIPPED, 8), (JobStatus.READY, 3), (JobStatus.QC, 3), (JobStatus.COMPOUNDING, 4),
           (JobStatus.QUEUED, 10), (JobStatus.REWORK, 1), (JobStatus.ON_HOLD, 1)]
CHECKED = {"ok": True, "findings": [], "aqueous": False, "preserved": False, "storage": "room_or_refrigerate",
           "storage_text": "Store at 20–25 °C or in a refrigerator", "beyond_use_days": 180, "substances": [],
           "batch": {"quantity": 31.5, "unit": "g", "minimum_weighable_g": 0.12,
                     "lines": [{"item": "ointment-base", "name": "Ointment base", "kind": "base", "share_percent": 100.0,
                                "quantity": 31.5, "below_minimum_weighable": False, "lots": []}]}}


class Command(BaseCommand):
    help = "Bulk-insert many signed orders, preparations and jobs (for scale tests and benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=100_000)
        parser.add_argument("--preparations", type=int, default=3, help="preparations (and jobs) per order")
        parser.add_argument("--patients", type=int, default=5_000)
        parser.add_argument("--batch", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, orders, preparations, patients, batch, seed, **options):
        if orders < 1 or not 1 <= preparations <= 20:
            raise CommandError("--orders must be positive and --preparations 1–20.")
        prescriber = Prescriber.objects.select_related("clinic", "user").filter(user__username="dr.rivera").first()
        if prescriber is None:
            raise CommandError("Load the demo data first: manage.py demo_data")
        rng = random.Random(seed)
        started = time.monotonic()
        clinic = prescriber.clinic
        have = Patient.objects.filter(clinic=clinic).count()
        Patient.objects.bulk_create(
            [Patient(clinic=clinic, first_name=f"Scale{i}", last_name=f"Patient{i}", date_of_birth=dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                     address_line1=f"{i} Scale St", city="Oakland", state="CA", postal_code="94607") for i in range(have, patients)],
            batch_size=batch)
        patient_ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
        statuses, weights = zip(*JOB_MIX)
        now = timezone.now()
        numbers = set(Order.objects.values_list("number", flat=True))
        done = 0
        while done < orders:
            size = min(batch, orders - done)
            with transaction.atomic():
                chunk = []
                for _ in range(size):
                    created = now - dt.timedelta(seconds=rng.randint(0, 365 * 86400))
                    number = f"RX-{created:%y%m}-{secrets.randbelow(10**6):06d}"
                    while number in numbers:
                        number = f"RX-{created:%y%m}-{secrets.randbelow(10**6):06d}"
                    numbers.add(number)
                    chunk.append(Order(public_id=uuid.uuid4(), number=number, clinic=clinic, prescriber=prescriber,
                                       patient_id=rng.choice(patient_ids), status=OrderStatus.APPROVED, source="api",
                                       external_id=f"EXT-{done + len(chunk)}", ship_to_line1="1 Scale St", ship_to_city="Oakland",
                                       ship_to_state="CA", ship_to_postal_code="94607", encounter_state="CA", rules_version="generated",
                                       signed_at=created, signed_by=prescriber.user, attestation="generated", event_sequence=1))
                Order.objects.bulk_create(chunk, batch_size=batch)
                # created_at is auto_now_add: spread it over the year, one statement per chunk
                Order.objects.filter(pk__in=[o.pk for o in chunk]).update(created_at=F("signed_at"))
                job_statuses = rng.choices(statuses, weights=weights, k=size * preparations)
                preps = [Preparation(public_id=uuid.uuid4(), order=order, position=p + 1, base_code="ointment-base", base_name="Ointment base",
                                     quantity=Decimal(30), unit="g", ingredients=[], checked=CHECKED, beyond_use_days=180,
                                     storage="room_or_refrigerate", exclusions={}, status=job_statuses[i * preparations + p])
                         for i, order in enumerate(chunk) for p in range(preparations)]
                Preparation.objects.bulk_create(preps, batch_size=batch)
                Job.objects.bulk_create([Job(public_id=uuid.uuid4(), number=f"{prep.order.number}-{prep.position}", preparation=prep,
                                             status=prep.status, priority=rng.choice((0, 0, 0, 0, 1))) for prep in preps], batch_size=batch)
                OrderEvent.objects.bulk_create([OrderEvent(order=order, sequence=1, kind="signed", to_status=OrderStatus.SUBMITTED,
                                                           actor=prescriber.user) for order in chunk], batch_size=batch)
            done += size
            self.stdout.write(f"  {done:,} orders ({time.monotonic() - started:.0f} s)")
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(
            f"Generated {orders:,} orders, {orders * preparations:,} preparations and jobs in {time.monotonic() - started:.0f} s."))
