"""Fulfilment reads, scoped to the caller: jobs, shipments and the verification queue are the
pharmacy's, so anyone else is told they do not exist. Views and the API read through here."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.db.models import BooleanField, Case, Count, OuterRef, Prefetch, QuerySet, Subquery, Value, When

from fulfillment.carriers import CARRIERS
from fulfillment.documents import dating_context
from fulfillment.refills import refill_outlook
from fulfillment.models import Job, JobStatus, RenderStatus, Shipment, WorkerHeartbeat, Worksheet
from orders import selectors as order_selectors
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus, RefillRequest, RenewalRequest, RushStatus
from orders.rules.engine import STORAGE_TEXT
from orders.validation import prescriber_for_caller
from portal.errors import NotFound
from portal.models import PHARMACY_ROLES, Pharmacy


def _pharmacy_only(user, what: str) -> None:
    if user is None or getattr(user, "role", None) not in PHARMACY_ROLES:
        raise NotFound(f"No such {what}.")


def _one(queryset: QuerySet, what: str, **lookup):
    found = queryset.filter(**lookup).first()  # a malformed id raises ValidationError: the request guard answers 400
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def worker_last_seen():
    """The newest heartbeat of any worker, or None when no worker has run yet (no patient data: /healthz)."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


def job_list(*, user, status: str = "") -> QuerySet:
    _pharmacy_only(user, "job")
    qs = (Job.objects.select_related("preparation__order__patient", "claimed_by")
          .prefetch_related(Prefetch("worksheets", queryset=Worksheet.objects.order_by("-version")))
          .order_by("-priority", "created_at", "pk"))
    if status:
        qs = qs.filter(status=status)
    return qs


def job_get(*, user, public_id) -> Job:
    """One job with what its page and its API answer show, for pharmacy staff; anyone else: not found."""
    _pharmacy_only(user, "job")
    jobs = Job.objects.select_related("preparation__order__patient", "preparation__order__prescriber__user", "claimed_by", "shipment")
    return _one(jobs, "job", public_id=public_id)


def job_for_answer(*, user, job: Job) -> Job:
    """A job as the API answers it (its order and patient, its worksheets), after a change."""
    return job_list(user=user).get(pk=job.pk)


def shipped_jobs_of_orders(*, user, orders) -> QuerySet:
    """The shipped jobs of these orders with their parcels, in one query (the prescriber's home page): the
    caller's clinic's only, unless the caller is pharmacy staff."""
    jobs = Job.objects.filter(preparation__order__in=orders, shipment__isnull=False).select_related("shipment")
    if getattr(user, "role", None) not in PHARMACY_ROLES:
        jobs = jobs.filter(preparation__order__clinic_id=prescriber_for_caller(user=user, prescriber_npi=None).clinic_id)
    return jobs


def job_board(*, user, statuses: list[str], per_column: int = 20) -> dict[str, list[Job]]:
    """The first jobs of each column, by priority then age: one LIMITed query per column, each walking
    job_queue_order, and only the fields a card shows, so the board costs the same with 300,000 jobs done."""
    _pharmacy_only(user, "job")
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


def worksheet_ready(*, job: Job, version: int) -> Worksheet:
    """A rendered version of a job's worksheet (the job found through job_get)."""
    worksheet = Worksheet.objects.filter(job=job, status=RenderStatus.READY, version=version).first()
    if worksheet is None:
        raise NotFound("That worksheet is not ready.")
    return worksheet


ACTIVE = (JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.REWORK, JobStatus.READY, JobStatus.ON_HOLD)


def job_counts(*, user) -> dict[str, int]:
    """Counts of the statuses a pharmacy works on. Shipped, delivered and cancelled jobs grow for ever
    and are not counted here (an index-only scan of the active part of job_queue_order)."""
    _pharmacy_only(user, "job")
    counts = dict(Job.objects.filter(status__in=ACTIVE).order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in ACTIVE}


ANSWER_KINDS = ("clarification_answered", "amended")


def _last_event(kinds) -> Subquery:
    return Subquery(OrderEvent.objects.filter(order=OuterRef("pk"), kind__in=kinds).order_by("-sequence").values("created_at")[:1])


def rush_requests(*, user) -> QuerySet:
    """Orders whose prescriber asked for rush and wait for the pharmacist's answer, oldest first."""
    _pharmacy_only(user, "order")
    return (Order.objects.filter(rush=RushStatus.REQUESTED).select_related("patient", "prescriber__user", "clinic")
            .order_by("signed_at", "pk"))


def verification_queue(*, user) -> QuerySet:
    _pharmacy_only(user, "order")
    """Orders to verify, the ones the prescriber has just answered first (marked `answered`), then oldest signed first."""
    last_kind = Subquery(OrderEvent.objects.filter(order=OuterRef("pk")).exclude(kind="transition_refused")
                         .order_by("-sequence").values("kind")[:1])
    return (Order.objects.filter(status__in=[OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION])
            .annotate(last_kind=last_kind, answered_at=_last_event(ANSWER_KINDS))
            .annotate(answered=Case(When(last_kind__in=ANSWER_KINDS, then=Value(True)), default=Value(False), output_field=BooleanField()))
            .select_related("patient", "prescriber__user", "clinic").prefetch_related("preparations", "amendments")
            .order_by("-answered", "signed_at", "pk"))


def clarification_waiting(*, user) -> QuerySet:
    """Orders waiting for the prescriber's answer, longest waiting first, with the question and when it was asked."""
    _pharmacy_only(user, "order")
    asked = OrderEvent.objects.filter(order=OuterRef("pk"), kind="clarification_requested").order_by("-sequence")
    return (Order.objects.filter(status=OrderStatus.CLARIFICATION_REQUESTED)
            .annotate(asked_at=Subquery(asked.values("created_at")[:1]), question=Subquery(asked.values("message")[:1]))
            .select_related("patient", "prescriber__user", "clinic").order_by("asked_at", "pk"))


def ship_to_key(order: Order) -> tuple[str, ...]:
    """Where an order goes, as a parcel sees it: the same street, unit, city, state and ZIP, whatever the case or spacing."""
    return tuple(" ".join(str(part or "").lower().replace(",", " ").replace(".", " ").split())
                 for part in (order.ship_to_line1, order.ship_to_line2, order.ship_to_city, order.ship_to_state,
                              (order.ship_to_postal_code or "")[:5]))


def parcel_candidates(*, user, job: Job) -> list[Job]:
    """The ready jobs that may share a parcel with `job`: the same patient, shipping to the same address, whichever of
    the patient's orders they belong to. The job's own order first, then the others, oldest first. Pharmacy staff only."""
    _pharmacy_only(user, "job")
    order = job.preparation.order
    ready = (Job.objects.filter(status=JobStatus.READY, preparation__order__patient_id=order.patient_id)
             .select_related("preparation__order").order_by("preparation__order_id", "number"))
    key = ship_to_key(order)
    same = [other for other in ready if ship_to_key(other.preparation.order) == key]
    return sorted(same, key=lambda other: (other.preparation.order_id != order.pk, other.preparation.order_id, other.number))


def preparation_fills(*, user, preparation) -> list[Job]:
    """Every fill (job) of a preparation, oldest first, with its record and parcel: none unless the caller may see the
    preparation's order (a preparation is found through orders.selectors.preparation_get)."""
    return list(Job.objects.filter(preparation=preparation, preparation__order__in=_orders_of(user))
                .select_related("shipment", "record", "preparation__order").order_by("fill"))


def job_of_fill(*, user, refill) -> Job | None:
    """The job that makes a refill request's fill, if the caller may see it."""
    return Job.objects.filter(preparation_id=refill.preparation_id, fill=refill.fill, preparation__order__in=_orders_of(user)).first()


def refill_requests_of(*, user, preparation) -> list[RefillRequest]:
    """A preparation's refill requests (who asked, when, which fill), if the caller may see its order."""
    return list(RefillRequest.objects.filter(preparation=preparation, preparation__order__in=_orders_of(user))
                .select_related("preparation", "requested_by"))


def _orders_of(user) -> QuerySet:
    return order_selectors.order_list(user=user, include_drafts=False).values("pk")


def shipment_get(*, user, public_id) -> Shipment:
    _pharmacy_only(user, "shipment")
    return _one(Shipment.objects.select_related("patient").prefetch_related("orders", "jobs", "events"), "shipment", public_id=public_id)


K = OrderEventKind


def patient_status(*, link) -> dict:
    """What the patient's status page shows, for the holder of a live link (resolved and date-of-birth
    checked by the page): no more than the patient needs. Every fill of each preparation (the first and each refill,
    the latest first), each with its own steps, status, tracking and delivery. A fixed number of queries, however
    many preparations and fills (tests/portal/test_list_query_counts.py)."""
    order = link.order
    events = list(order.events.filter(kind__in=[K.SIGNED, K.APPROVED, K.JOB_STATUS, K.CANCELLED, K.REFILL_REQUESTED]).order_by("sequence"))
    jobs = Job.objects.order_by("fill").select_related("record", "shipment").prefetch_related("record__lines", "shipment__events")
    preps = order.preparations.all().prefetch_related(
        Prefetch("jobs", queryset=jobs, to_attr="fills_in_order"),
        Prefetch("refill_requests", queryset=RefillRequest.objects.filter(status="released"), to_attr="released_refills"),
        Prefetch("renewal_requests", queryset=RenewalRequest.objects.filter(status="pending"), to_attr="pending_renewals"))
    preparations = []
    for prep in preps:
        fills = prep.fills_in_order
        outlook = refill_outlook(prep, jobs=fills, released_fills={r.fill for r in prep.released_refills})
        mine = [e for e in events if e.kind == K.APPROVED or (e.preparation_id == prep.pk and e.kind in (K.JOB_STATUS, K.REFILL_REQUESTED))]
        # The events between one refill request and the next are that refill's; those before the first, the first fill's.
        segments: list[list] = [[]]
        for event in mine:
            if event.kind == K.REFILL_REQUESTED:
                segments.append([])
            segments[-1].append(event)
        shown = [_patient_fill(prep, job, segments[index] if index < len(segments) else [], order)
                 for index, job in enumerate(fills)] or [_patient_fill(prep, None, segments[0], order)]
        shown.reverse()  # the latest first
        latest = shown[0]
        preparations.append({
            "name": prep.base_name, "actives": [line["name"] for line in prep.ingredients],
            "status": _PATIENT_PREP_WORDS.get(prep.status, prep.get_status_display()),  # the words its fills use
            "hold_reason": latest["hold_reason"],
            "public_id": str(prep.public_id), "refill": _refill_outlook(prep, order, outlook),
            "renewal": _renewal_outlook(prep, order, outlook),
            "auto_refill_days": prep.refill_interval_days if prep.refills else None, "auto_refill_paused": prep.auto_refill_paused,
            "fills": shown, "several_fills": len(shown) > 1, "storage": STORAGE_TEXT.get(prep.storage),
            "directions": prep.directions, "refills_left": prep.refills_remaining, "refills": prep.refills,
            "shipped": latest["shipped"], "refill_waiting": latest["fill"] > 0 and not latest["shipped"]
            and latest["job_status"] != JobStatus.CANCELLED,
        })
    pharmacy = Pharmacy.objects.order_by("pk").first()
    # The pharmacy's promise was made for the first fill: it stands while a first fill is still to ship, never for a refill.
    waiting = [p for p in preparations if not p["shipped"] and not p["several_fills"] and p["fills"][0]["fill"] == 0]
    return {"first_name": order.patient.first_name, "order_status": order.get_status_display(), "preparations": preparations,
            "shipments": Shipment.objects.filter(orders=order).count(),
            "pharmacy_name": pharmacy.name if pharmacy else settings.PHARMACY_NAME, "pharmacy_phone": pharmacy.phone if pharmacy else "",
            # Before it ships: the pharmacy's promise; once a parcel is out, the carrier's estimate is shown on it.
            "promise": {"ship": order.promised_ship_date, "delivery": order.promised_delivery_date}
            if waiting and order.promised_ship_date and order.status not in ("rejected", "cancelled") else None,
            "refill_waiting": any(p["refill_waiting"] for p in preparations)}


def _patient_fill(prep, job, events, order) -> dict:
    """One fill (the first or a refill) as the patient reads it: its steps, status, tracking, delivery and use-by date."""
    fill = job.fill if job is not None else 0
    if fill:
        steps = [{"label": f"Refill {fill} requested", "at": events[0].created_at}] if events else []
        events = events[1:]
    else:
        steps = [{"label": "Prescription received", "at": order.signed_at}]
    steps += [{"label": _STEP_LABELS.get(e.to_status, e.to_status), "at": e.created_at} for e in events
              if (e.kind == K.APPROVED and not fill) or (e.kind == K.JOB_STATUS and e.to_status in _STEP_LABELS)]
    record = getattr(job, "record", None) if job is not None else None
    bud = None
    if record is not None:
        bud = dating_context(prep, compounded_on=timezone.localtime(record.recorded_at).date(),
                             lot_expiries=[line.lot_expires_on for line in record.lines.all()])["date"]
    shipment = job.shipment if job is not None else None
    carrier = CARRIERS.get(shipment.carrier) if shipment else None
    status = job.status if job is not None else ""
    return {
        "fill": fill, "title": f"Refill {fill}" if fill else "First fill", "job_status": status,
        "status": _STEP_LABELS.get(status, "") if job is not None else "",
        "hold_reason": job.hold_reason if job is not None and status == JobStatus.ON_HOLD else "",
        "steps": steps, "beyond_use_date": bud,
        "tracking_url": (carrier.tracking_url(shipment.tracking_number) or None) if carrier else None,
        "tracking_number": shipment.tracking_number if shipment else None, "carrier": carrier.name if carrier else None,
        "tracking_events": list(shipment.events.all()) if shipment else [],
        "shipped": shipment is not None, "delivered_at": shipment.delivered_at if shipment else None,
        "expected_delivery": _expected_delivery(shipment, carrier),
        "delivery_late": _delivery_late(shipment, carrier),
    }


def _refill_outlook(prep, order, outlook) -> dict | None:
    """What the patient may do about a refill: ask now, or when the next one is due, or nothing (none written)."""
    if not prep.refills or order.status not in ("approved", "shipped", "delivered"):
        return None
    refusal = outlook["refusal"]
    return {"can_request": outlook["can_request"], "next_on": outlook["next_refill_on"],
            "why_not": refusal.message.replace("ask the prescriber to renew it", "ask your clinic to renew it") if refusal else "",
            "open": outlook["open_refills"],  # requested and not yet released: still counted among those left
            "in_progress": outlook["open_refills"] > 0 or (refusal is not None and refusal.code == "FILL_IN_PROGRESS")}


def _renewal_outlook(prep, order, outlook) -> dict | None:
    """Whether the patient may ask the prescriber to renew (none left, or expired), or has asked already."""
    if order.status not in ("approved", "shipped", "delivered"):
        return None
    if prep.pending_renewals:
        return {"can_ask": False, "pending": True}
    refusal = outlook["refusal"]
    can_ask = refusal is not None and refusal.code in ("NO_REFILLS_LEFT", "PRESCRIPTION_EXPIRED") and not outlook["open_refills"]
    return {"can_ask": True, "pending": False, "why": refusal.code} if can_ask else None


def _estimate(shipment, carrier):
    """Shipped and not reported delivered: the carrier's estimate (a date)."""
    if shipment is None or carrier is None or shipment.delivered_at is not None:
        return None
    return shipment.estimated_delivery_date or carrier.estimated_delivery(shipment)


def _expected_delivery(shipment, carrier):
    """Once shipped and not yet delivered: the carrier's estimate, while it is still to come (today or later)."""
    estimate = _estimate(shipment, carrier)
    return estimate if estimate is not None and estimate >= timezone.localdate() else None


def _delivery_late(shipment, carrier):
    """The estimate, once it has passed with no delivery reported: said as past, never as still expected."""
    estimate = _estimate(shipment, carrier)
    return estimate if estimate is not None and estimate < timezone.localdate() else None


_STEP_LABELS = {
    "approved": "Checked by the pharmacist", "queued": "Waiting to be made", "compounding": "Being made",
    "qc": "Quality check", "ready": "Ready to ship", "shipped": "Shipped", "delivered": "Delivered",
    "rework": "Being made again after a quality check", "on_hold": "On hold", "cancelled": "Cancelled",
}
# The preparation's status in the patient's words: the same as its fills' (one word for one state on the page).
_PATIENT_PREP_WORDS = {**_STEP_LABELS, "pending": "Waiting for the pharmacist's check"}
