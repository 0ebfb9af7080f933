"""The migrations of the one-way house (orders 0017, fulfillment 0013) on a database that holds orders,
preparations, jobs, events, patient links, shipments, emails and webhook deliveries in every state:
run them forward from the state before, and every row that was there is there, unchanged (counts and
contents), and the change history gained nothing. New columns only get their starting values."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEFORE = [("orders", "0016_auto_refill_pause"), ("fulfillment", "0012_compounding_record_795")]
# Up to this landing's own migrations: later ones reshape rows on purpose (the parcel migrations of issue 15 move a
# shipment's order into its many orders; tests/fulfillment/test_parcels.py checks those).
AFTER = [("orders", "0017_event_kinds_and_webhook_counter"), ("fulfillment", "0013_email_payload_and_webhook_sequence")]
# Every kind an event row could hold before the kinds became choices with a constraint.
KINDS = ["draft_created", "signed", "status_changed", "approved", "rejected", "cancelled", "clarification_requested",
         "clarification_answered", "job_status", "transition_refused", "bud_assigned", "rush_requested", "rush_accepted",
         "rush_declined", "amended", "qc_passed", "refill_requested", "refill_released",
         "renewal_requested", "renewal_approved", "renewal_denied", "auto_refill_paused", "auto_refill_resumed"]
TABLES = ["orders_order", "orders_preparation", "orders_orderevent", "orders_patientlink", "fulfillment_job", "fulfillment_shipment",
          "fulfillment_emailoutbox", "fulfillment_webhookendpoint", "fulfillment_webhookevent", "fulfillment_webhookdelivery"]
HISTORY = ["orders_orderhistory", "orders_preparationhistory", "fulfillment_jobhistory", "fulfillment_shipmenthistory",
           "orders_patientlinkhistory"]
NEW_COLUMNS = {"orders_order": {"webhook_sequence"}, "fulfillment_emailoutbox": {"payload"}}


def _snapshot() -> dict:
    found = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - our own table names
            names = [c.name for c in cursor.description]
            found[table] = [{k: v for k, v in zip(names, row) if k not in NEW_COLUMNS.get(table, ())} for row in cursor.fetchall()]
        for table in HISTORY:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            found[table] = cursor.fetchone()[0]
    return found


def _fill(apps) -> None:
    """Rows in every state, written through the models as they were before the migrations."""
    get = apps.get_model
    User, Clinic, Prescriber, Patient = get("portal", "User"), get("orders", "Clinic"), get("orders", "Prescriber"), get("orders", "Patient")
    Order, Preparation, OrderEvent, PatientLink = get("orders", "Order"), get("orders", "Preparation"), get("orders", "OrderEvent"), \
        get("orders", "PatientLink")
    Job, Shipment = get("fulfillment", "Job"), get("fulfillment", "Shipment")
    EmailOutbox, Endpoint, Event, Delivery = (get("fulfillment", name) for name in ("EmailOutbox", "WebhookEndpoint", "WebhookEvent",
                                                                                  "WebhookDelivery"))
    now = timezone.now()
    user = User.objects.create(username="migrating-doctor", role="prescriber", password="!")
    tech = User.objects.create(username="migrating-tech", role="technician", password="!")
    clinic = Clinic.objects.create(name="Migration Clinic")
    prescriber = Prescriber.objects.create(user=user, clinic=clinic, npi="1234567893")
    patient = Patient.objects.create(clinic=clinic, first_name="Ada", last_name="Lovelace", date_of_birth=dt.date(1990, 1, 1),
                                     address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601", email="ada@example.test")
    endpoint = Endpoint.objects.create(clinic=clinic, url="https://hooks.example.test/in", secret="whsec_x", created_by=user,
                                       event_types=["order.status_changed"])
    fhir_endpoint = Endpoint.objects.create(clinic=clinic, url="https://hooks.example.test/fhir", secret="whsec_y", created_by=user,
                                            event_types=["order.status_changed"], payload_format="fhir")
    order_statuses = ["draft", "submitted", "in_verification", "clarification_requested", "approved", "rejected", "cancelled",
                      "shipped", "delivered"]
    job_statuses = ["queued", "compounding", "qc", "ready", "shipped", "delivered", "on_hold", "rework", "cancelled"]
    outbox_statuses = ["pending", "sending", "sent", "dead"]
    for index, status in enumerate(order_statuses):
        order = Order.objects.create(number=f"RX-MIG-{index:06d}", clinic=clinic, prescriber=prescriber, status=status,
                                     patient=None if status == "draft" else patient, signed_at=None if status == "draft" else now,
                                     event_sequence=len(KINDS), external_id=f"ext-{index}")
        for seq, kind in enumerate(KINDS, start=1):
            OrderEvent.objects.create(order=order, sequence=seq, kind=kind, to_status=status, message=f"{kind} {index}", actor=user)
        PatientLink.objects.create(order=order, salt=uuid.uuid4().hex, token_hash=uuid.uuid4().hex + uuid.uuid4().hex[:32])
        for seq, delivery_status in enumerate(outbox_statuses, start=1):
            event = Event.objects.create(public_id=f"evt_{index}_{seq}", clinic=clinic, order=order, type="order.status_changed",
                                         sequence=seq, payload={"sequence": seq, "status": status},
                                         fhir_payload={"resourceType": "Bundle", "type": "history"} if seq % 2 else None)
            Delivery.objects.create(endpoint=endpoint, event=event, status=delivery_status, next_attempt_at=now, attempts=seq)
            Delivery.objects.create(endpoint=fhir_endpoint, event=event, status=delivery_status, next_attempt_at=now, attempts=seq)
            EmailOutbox.objects.create(template="patient_approved", to="ada@example.test", order=order, status=delivery_status,
                                       next_attempt_at=now, attempts=seq)
    approved = Order.objects.get(status="approved")
    shipment = Shipment.objects.create(order=approved, carrier="simulated", service="Ground", tracking_number="SIM-MIGRATE-1",
                                       shipped_by=tech, shipped_at=now, status="in_transit")
    for position, status in enumerate(job_statuses, start=1):
        prep = Preparation.objects.create(order=approved, position=position, status=status, base_code="cream-base-pf",
                                          base_name="Cream base", quantity=Decimal("50"), unit="g", beyond_use_days=35,
                                          storage="refrigerate", checked={"ok": True}, ingredients=[{"ingredient": "niacinamide"}])
        Job.objects.create(number=f"{approved.number}-{position}", preparation=prep, status=status,
                           shipment=shipment if status in ("shipped", "delivered") else None,
                           claimed_by=tech if status == "compounding" else None, claimed_at=now if status == "compounding" else None,
                           **({"hold_reason": "Waiting for the prescriber's call", "held_from": "queued"} if status == "on_hold" else {}))
    Preparation.objects.create(order=Order.objects.get(status="submitted"), position=1, status="pending", base_code="cream-base-pf",
                               base_name="Cream base", quantity=Decimal("30"), unit="g", beyond_use_days=35, storage="refrigerate")


def test_the_migrations_keep_every_row_and_only_add(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        _fill(MigrationExecutor(connection).loader.project_state(BEFORE).apps)
        before = _snapshot()
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        after = _snapshot()
        assert {t: len(r) if isinstance(r, list) else r for t, r in after.items()} == \
            {t: len(r) if isinstance(r, list) else r for t, r in before.items()}
        assert after == before
        with connection.cursor() as cursor:
            cursor.execute("SELECT number, webhook_sequence FROM orders_order ORDER BY id")
            assert {number: seq for number, seq in cursor.fetchall()} == {f"RX-MIG-{i:06d}": 4 for i in range(9)}
            cursor.execute("SELECT DISTINCT payload::text FROM fulfillment_emailoutbox")
            assert [row[0] for row in cursor.fetchall()] == ["{}"]
    finally:
        MigrationExecutor(connection).migrate(latest)


HOLDS_BEFORE = [("orders", "0011_order_amendments"), ("fulfillment", "0009_webhook_fhir_payloads")]
HOLDS = [("orders", "0011_order_amendments"), ("fulfillment", "0010_job_holds")]


def test_jobs_held_before_reasons_were_recorded_migrate(db):
    """fulfillment 0010 adds "a job on hold has a reason and a status to resume to": a database holding a job held
    before it (no reason) migrates, the job gets a reason the pharmacy and patient can read and resumes to the queue
    (the only way out of a hold before 0010); other jobs are untouched."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(HOLDS_BEFORE)
        get = MigrationExecutor(connection).loader.project_state(HOLDS_BEFORE).apps.get_model
        user = get("portal", "User").objects.create(username="held-doctor", role="prescriber", password="!")
        clinic = get("orders", "Clinic").objects.create(name="Held Clinic")
        prescriber = get("orders", "Prescriber").objects.create(user=user, clinic=clinic, npi="1234567893")
        patient = get("orders", "Patient").objects.create(clinic=clinic, first_name="Ada", last_name="Held", date_of_birth=dt.date(1990, 1, 1),
                                                          address_line1="1 Main St", city="Oakland", state="CA", postal_code="94601")
        order = get("orders", "Order").objects.create(number="RX-HELD-000001", clinic=clinic, prescriber=prescriber, patient=patient,
                                                      status="approved", signed_at=timezone.now(), signed_by=user)
        for position, status in enumerate(["on_hold", "queued", "on_hold"], start=1):
            prep = get("orders", "Preparation").objects.create(order=order, position=position, status=status, base_code="cream-base-pf",
                                                               base_name="Cream base", quantity=Decimal("50"), unit="g",
                                                               beyond_use_days=35, storage="refrigerate")
            get("fulfillment", "Job").objects.create(number=f"RX-HELD-000001-{position}", preparation=prep, status=status)
        MigrationExecutor(connection).migrate(HOLDS)
        with connection.cursor() as cursor:
            cursor.execute("SELECT number, status, hold_reason, held_from FROM fulfillment_job ORDER BY number")
            assert cursor.fetchall() == [
                ("RX-HELD-000001-1", "on_hold", "Held before reasons were recorded", "queued"),
                ("RX-HELD-000001-2", "queued", "", ""),
                ("RX-HELD-000001-3", "on_hold", "Held before reasons were recorded", "queued"),
            ]
    finally:
        MigrationExecutor(connection).migrate(latest)
