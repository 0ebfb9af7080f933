"""Fulfilment reads for pharmacy staff."""

from __future__ import annotations

from django.db.models import BooleanField, Case, Count, OuterRef, Prefetch, QuerySet, Subquery, Value, When

from fulfillment.models import Job, JobStatus, Shipment, WorkerHeartbeat, Worksheet
from orders.models import Order, OrderEvent, OrderStatus, RushStatus
from portal.errors import NotFound


def worker_last_seen():
    """The newest heartbeat of any worker, or None when no worker has run yet."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


def job_list(*, status: str = "") -> QuerySet:
    qs = (Job.objects.select_related("preparation__order__patient", "claimed_by")
          .prefetch_related(Prefetch("worksheets", queryset=Worksheet.objects.order_by("-version")))
          .order_by("-priority", "created_at", "pk"))
    if status:
        qs = qs.filter(status=status)
    return qs


def job_board(*, statuses: list[str], per_column: int = 20) -> dict[str, list[Job]]:
    """The first jobs of each column, by priority then age: one LIMITed query per column, each walking
    job_queue_order, and only the fields a card shows, so the board costs the same with 300,000 jobs done."""
    lean = (Job.objects.select_related("preparation__order", "claimed_by")
            .only("public_id", "number", "status", "priority", "created_at", "preparation__base_name", "claimed_by__username",
                  "preparation__order__promised_ship_date", "preparation__order__rush")
            .order_by("-priority", "created_at", "id"))
    return {status: list(lean.filter(status=status)[:per_column]) for status in statuses}


def latest_worksheet(job: Job) -> Worksheet | None:
    cached = getattr(job, "_prefetched_objects_cache", {}).get("worksheets")
    if cached is not None:
        return cached[0] if cached else None
    return job.worksheets.order_by("-version").first()


ACTIVE = (JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.REWORK, JobStatus.READY, JobStatus.ON_HOLD)


def job_counts() -> dict[str, int]:
    """Counts of the statuses a pharmacy works on. Shipped, delivered and cancelled jobs grow for ever
    and are not counted here (an index-only scan of the active part of job_queue_order)."""
    counts = dict(Job.objects.filter(status__in=ACTIVE).order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in ACTIVE}


ANSWER_KINDS = ("clarification_answered", "amended")


def _last_event(kinds) -> Subquery:
    return Subquery(OrderEvent.objects.filter(order=OuterRef("pk"), kind__in=kinds).order_by("-sequence").values("created_at")[:1])


def rush_requests() -> QuerySet:
    """Orders whose prescriber asked for rush and wait for the pharmacist's answer, oldest first."""
    return (Order.objects.filter(rush=RushStatus.REQUESTED).select_related("patient", "prescriber__user", "clinic")
            .order_by("signed_at", "pk"))


def verification_queue() -> QuerySet:
    """Orders to verify, the ones the prescriber has just answered first (marked `answered`), then oldest signed first."""
    last_kind = Subquery(OrderEvent.objects.filter(order=OuterRef("pk")).exclude(kind="transition_refused")
                         .order_by("-sequence").values("kind")[:1])
    return (Order.objects.filter(status__in=[OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION])
            .annotate(last_kind=last_kind, answered_at=_last_event(ANSWER_KINDS))
            .annotate(answered=Case(When(last_kind__in=ANSWER_KINDS, then=Value(True)), default=Value(False), output_field=BooleanField()))
            .select_related("patient", "prescriber__user", "clinic").prefetch_related("preparations", "amendments")
            .order_by("-answered", "signed_at", "pk"))


def clarification_waiting() -> QuerySet:
    """Orders waiting for the prescriber's answer, longest waiting first, with the question and when it was asked."""
    asked = OrderEvent.objects.filter(order=OuterRef("pk"), kind="clarification_requested").order_by("-sequence")
    return (Order.objects.filter(status=OrderStatus.CLARIFICATION_REQUESTED)
            .annotate(asked_at=Subquery(asked.values("created_at")[:1]), question=Subquery(asked.values("message")[:1]))
            .select_related("patient", "prescriber__user", "clinic").order_by("asked_at", "pk"))


def ship_to_key(order: Order) -> tuple[str, ...]:
    """Where an order goes, as a parcel sees it: the same street, unit, city, state and ZIP, whatever the case or spacing."""
    return tuple(" ".join(str(part or "").lower().replace(",", " ").replace(".", " ").split())
                 for part in (order.ship_to_line1, order.ship_to_line2, order.ship_to_city, order.ship_to_state,
                              (order.ship_to_postal_code or "")[:5]))


def parcel_candidates(*, job: Job) -> list[Job]:
    """The ready jobs that may share a parcel with `job`: the same patient, shipping to the same address, whichever of
    the patient's orders they belong to. The job's own order first, then the others, oldest first."""
    order = job.preparation.order
    ready = (Job.objects.filter(status=JobStatus.READY, preparation__order__patient_id=order.patient_id)
             .select_related("preparation__order").order_by("preparation__order_id", "number"))
    key = ship_to_key(order)
    same = [other for other in ready if ship_to_key(other.preparation.order) == key]
    return sorted(same, key=lambda other: (other.preparation.order_id != order.pk, other.preparation.order_id, other.number))


def shipment_get(*, public_id) -> Shipment:
    """A shipment, for pharmacy staff (the pages that call this are staff-only)."""
    shipment = Shipment.objects.select_related("patient").prefetch_related("orders").filter(public_id=public_id).first()
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment
