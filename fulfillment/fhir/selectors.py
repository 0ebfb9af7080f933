"""FHIR reads, scoped to the caller through the order selectors: another clinic's prescription is
not found (404), and a search never returns it."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.db.models import Max, Prefetch, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from fulfillment.fhir import systems
from fulfillment.fhir.outcome import fail
from fulfillment.models import Job
from orders import selectors as order_selectors
from orders.models import Order, OrderStatus, Preparation, PreparationStatus
from portal.errors import NotFound

SEARCH_LIMIT = 100
STATUSES = ("active", "on-hold", "stopped", "cancelled", "completed")
_DATE = re.compile(r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb)?(?P<value>\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?)$")


def _scoped(user) -> QuerySet:
    orders = order_selectors.order_list(user=user, include_drafts=False).order_by()
    return (Preparation.objects.filter(order__in=orders.values("pk"))
            .select_related("order__patient", "order__prescriber__user", "order__clinic")
            .prefetch_related(Prefetch("jobs", queryset=Job.objects.select_related("shipment", "record").order_by("fill"),
                                       to_attr="fhir_jobs"))
            .annotate(last_event_at=Max("order__events__created_at")))


def preparations_of(order: Order) -> list[Preparation]:
    return list(Preparation.objects.filter(order=order).select_related("order__patient", "order__prescriber__user")
                .order_by("position"))


def _uuid(raw: str):
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def preparation_get(*, user, public_id) -> Preparation:
    """One prescription line of the caller's clinic; anything else (or a malformed id) is not found."""
    key = _uuid(public_id)
    prep = _scoped(user).filter(public_id=key).first() if key else None
    if prep is None:
        raise NotFound("No such MedicationRequest.")
    return prep


def job_get(*, user, public_id) -> Job:
    key = _uuid(public_id)
    job = None
    if key:
        scope = order_selectors.order_list(user=user, include_drafts=False).order_by().values("pk")
        job = (Job.objects.filter(public_id=key, preparation__order__in=scope)
               .select_related("preparation__order__patient", "preparation__order__prescriber__user", "shipment", "record").first())
    if job is None:
        raise NotFound("No such MedicationDispense.")
    return job


def medication_requests(*, user, identifier: str = "", patient: str = "", status: str = "", last_updated: list[str] = ()) -> list:
    qs = _scoped(user)
    if identifier:
        system, _, value = identifier.rpartition("|")
        if system == systems.ORDER_NUMBER:
            qs = qs.filter(order__number=value)
        elif system == systems.PREPARATION:
            number, _, position = value.rpartition("/")
            qs = qs.filter(order__number=number, position=int(position)) if position.isdigit() else qs.none()
        else:
            qs = qs.filter(order__external_id=value)
    if patient:
        key = _uuid(patient.removeprefix("Patient/"))
        qs = qs.filter(order__patient__public_id=key) if key else qs.none()
    if status:
        wanted = [s for s in status.split(",") if s]
        unknown = [s for s in wanted if s not in STATUSES + ("draft",)]
        if unknown:
            fail(400, f"Unknown status {unknown[0]!r}: use {', '.join(STATUSES)}.", expression="status", code="value")
        q = Q(pk__in=[])
        for value in wanted:
            q |= _status_q(value)
        qs = qs.filter(q)
    for raw in last_updated:
        qs = qs.annotate(fhir_updated=Greatest("order__updated_at", "last_event_at")).filter(_date_q("fhir_updated", raw))
    return list(qs.order_by("-order__created_at", "position")[:SEARCH_LIMIT])


def _status_q(value: str) -> Q:
    filling = [OrderStatus.APPROVED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]
    live = Q(order__status__in=[OrderStatus.SUBMITTED, OrderStatus.IN_VERIFICATION, *filling])
    done = Q(status=PreparationStatus.DELIVERED, refills_remaining=0)
    cancelled = Q(order__status=OrderStatus.CANCELLED) | Q(status=PreparationStatus.CANCELLED)
    return {
        "draft": Q(pk__in=[]),
        "active": live & ~done & ~Q(status=PreparationStatus.CANCELLED),
        "on-hold": Q(order__status=OrderStatus.CLARIFICATION_REQUESTED),
        "stopped": Q(order__status=OrderStatus.REJECTED),
        "cancelled": cancelled,
        "completed": Q(order__status__in=filling) & done,
    }[value]


def _date_q(field: str, raw: str) -> Q:
    match = _DATE.match(raw.strip())
    if match is None:
        fail(400, f"_lastUpdated={raw!r} is not a FHIR date search (e.g. ge2026-12-01 or gt2026-12-01T10:00:00Z).",
             expression="_lastUpdated", code="value")
    value = match.group("value")
    prefix = match.group("prefix") or "eq"
    if "T" in value:
        start = dt.datetime.fromisoformat(value)
        if timezone.is_naive(start):
            start = timezone.make_aware(start)
        end = start + dt.timedelta(seconds=1)
    else:
        parts = [int(p) for p in value.split("-")]
        year, month, day = parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1
        start = timezone.make_aware(dt.datetime(year, month, day))
        if len(parts) == 3:
            end = start + dt.timedelta(days=1)
        elif len(parts) == 2:
            end = timezone.make_aware(dt.datetime(year + (month == 12), month % 12 + 1, 1))
        else:
            end = timezone.make_aware(dt.datetime(year + 1, 1, 1))
    return {
        "eq": Q(**{f"{field}__gte": start, f"{field}__lt": end}), "ne": ~Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "gt": Q(**{f"{field}__gte": end}), "sa": Q(**{f"{field}__gte": end}),
        "lt": Q(**{f"{field}__lt": start}), "eb": Q(**{f"{field}__lt": start}),
        "ge": Q(**{f"{field}__gte": start}), "le": Q(**{f"{field}__lt": end}),
    }[prefix]


def tasks_for(*, user, focus: str = "") -> list[Preparation]:
    """One Task per preparation: the focus MedicationRequest's (an unknown or foreign one gives none), or the
    clinic's newest."""
    qs = _scoped(user)
    if focus:
        key = _uuid(focus.removeprefix("MedicationRequest/"))
        qs = qs.filter(public_id=key) if key else qs.none()
    return list(qs.order_by("-order__created_at", "position")[:SEARCH_LIMIT])


def dispenses_for(*, user, prescription: str = "") -> list[Job]:
    """One MedicationDispense per fill: of the prescription (a MedicationRequest), or the clinic's newest."""
    scope = order_selectors.order_list(user=user, include_drafts=False).order_by().values("pk")
    qs = (Job.objects.filter(preparation__order__in=scope)
          .select_related("preparation__order__patient", "preparation__order__prescriber__user", "shipment", "record"))
    if prescription:
        key = _uuid(prescription.removeprefix("MedicationRequest/"))
        qs = qs.filter(preparation__public_id=key).order_by("fill") if key else qs.none()
    else:
        qs = qs.order_by("-created_at")
    return list(qs[:SEARCH_LIMIT])


def patient_get(*, user, public_id):
    return order_selectors.patient_get(user=user, public_id=public_id)
