"""The audit log: who read patient data (access events, written here) and who changed it (history
rows written by PostgreSQL triggers, portal.history), searched and exported by the pharmacy admin."""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import json
from collections.abc import Iterable, Iterator

from django.apps import apps
from django.db.models import OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform

from portal.logfilters import redact
from portal.models import AccessAction, AccessEvent, User


def record_access(request, *, object_type: str, object_id, patient_id: int | None, action: str = AccessAction.VIEW) -> None:
    """One access event for one read of patient data by this request's caller."""
    _access_event(request, object_type=object_type, object_id=object_id, patient_id=patient_id, action=action).save()


def record_access_many(request, *, object_type: str, objects: Iterable[tuple[object, int | None]], action: str = AccessAction.VIEW) -> None:
    """record_access for each (object id, patient id) of a list read, in one insert."""
    AccessEvent.objects.bulk_create([_access_event(request, object_type=object_type, object_id=object_id, patient_id=patient_id,
                                                   action=action) for object_id, patient_id in objects])


def _access_event(request, *, object_type: str, object_id, patient_id: int | None, action: str) -> AccessEvent:
    from portal.ratelimit import client_address

    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    path = request.path
    if path.startswith("/s/"):
        channel = "link"
    elif path.startswith(("/api/", "/fhir/")):
        channel = "api"
    else:
        channel = "page"
    return AccessEvent(
        actor_id=user.pk if signed_in else None,
        actor_name=user.get_username() if signed_in else "patient link",
        channel=channel,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        patient_id=patient_id,
        method=request.method,
        path=redact(path)[:300],
        ip=client_address(request)[:45],
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
    )


# Every history table the search reads (portal.history tracks their models); _patient_objects
# follows each one's foreign keys to a patient.
HISTORY_MODELS = (
    ("orders", "PatientHistory"),
    ("orders", "OrderHistory"),
    ("orders", "PreparationHistory"),
    ("orders", "PatientLinkHistory"),
    ("orders", "PrescriberLicenceHistory"),
    ("fulfillment", "JobHistory"),
    ("fulfillment", "WorksheetHistory"),
    ("fulfillment", "CompoundingRecordHistory"),
    ("fulfillment", "RecordLineHistory"),
    ("fulfillment", "QCResultHistory"),
    ("fulfillment", "ShipmentHistory"),
    ("portal", "UserHistory"),
    ("portal", "ApiTokenHistory"),
    ("portal", "PharmacyLicenceHistory"),
)


@dataclasses.dataclass(frozen=True)
class AuditRow:
    at: dt.datetime
    kind: str  # "access" or "change"
    actor: str
    action: str
    object_type: str
    object_id: str
    patient_id: int | None
    ip: str
    path: str
    detail: str  # access: channel and method; change: the row as it stood after the change, as JSON
    changed: str = ""  # an update: the fields it changed, comma-separated

    CSV_HEADER = ("time_utc", "kind", "actor", "action", "object_type", "object_id", "patient_id", "ip", "path", "changed", "detail")

    def as_csv(self) -> list[str]:
        return [self.at.astimezone(dt.UTC).isoformat(timespec="seconds"), self.kind, self.actor, self.action, self.object_type,
                self.object_id, "" if self.patient_id is None else str(self.patient_id), self.ip, self.path, self.changed, self.detail]


@dataclasses.dataclass(frozen=True)
class AuditQuery:
    patient_id: int | None = None
    user: User | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _patient_objects(patient_id: int) -> dict[str, set]:
    """Every object id, per history model, that belongs to this patient, present or deleted: read
    from the history itself so deleted rows are still found."""
    m = {name: apps.get_model(app, name) for app, name in HISTORY_MODELS}
    orders = set(m["OrderHistory"].objects.filter(patient_id=patient_id).values_list("pgh_obj_id", flat=True))
    preparations = set(m["PreparationHistory"].objects.filter(order_id__in=orders).values_list("pgh_obj_id", flat=True))
    jobs = set(m["JobHistory"].objects.filter(preparation_id__in=preparations).values_list("pgh_obj_id", flat=True))
    records = set(m["CompoundingRecordHistory"].objects.filter(job_id__in=jobs).values_list("pgh_obj_id", flat=True))
    return {
        "PatientHistory": {patient_id},
        "OrderHistory": orders,
        "PreparationHistory": preparations,
        "PatientLinkHistory": set(m["PatientLinkHistory"].objects.filter(order_id__in=orders).values_list("pgh_obj_id", flat=True)),
        "JobHistory": jobs,
        "WorksheetHistory": set(m["WorksheetHistory"].objects.filter(job_id__in=jobs).values_list("pgh_obj_id", flat=True)),
        "CompoundingRecordHistory": records,
        "RecordLineHistory": set(m["RecordLineHistory"].objects.filter(record_id__in=records).values_list("pgh_obj_id", flat=True)),
        "QCResultHistory": set(m["QCResultHistory"].objects.filter(job_id__in=jobs).values_list("pgh_obj_id", flat=True)),
        # A parcel belongs to one patient for good (its history does not repeat the patient): found by the live row.
        "ShipmentHistory": set(apps.get_model("fulfillment", "Shipment").objects.filter(patient_id=patient_id).values_list("pk", flat=True)),
    }


def _changes(query: AuditQuery, names: dict[int, str], limit: int | None = None) -> Iterable[Iterator[AuditRow]]:
    owned = _patient_objects(query.patient_id) if query.patient_id is not None else None
    for app, name in HISTORY_MODELS:
        model = apps.get_model(app, name)
        rows = model.objects.all()
        if owned is not None:
            if not owned.get(name):
                continue
            rows = rows.filter(pgh_obj_id__in=owned[name])
        if query.user is not None:
            # the same expression as the history tables' user index (portal.history)
            rows = rows.alias(acting_user=KeyTextTransform("user", "pgh_context")).filter(acting_user=str(query.user.pk))
        if query.since is not None:
            rows = rows.filter(pgh_created_at__gte=query.since)
        if query.until is not None:
            rows = rows.filter(pgh_created_at__lt=query.until)
        yield _change_rows(rows.order_by("-pgh_created_at", "-pgh_id"), name, query.patient_id, names, limit)


def _change_rows(rows, name: str, patient_id: int | None, names: dict[int, str], limit: int | None) -> Iterator[AuditRow]:
    """The rows, each with the fields it changed: compared with the same object's previous history
    row (found by an indexed subquery, fetched 500 at a time). With a limit, only the newest `limit`
    of this table: the newest `limit` of all tables are among them."""
    model = rows.model
    previous = model.objects.filter(pgh_obj_id=OuterRef("pgh_obj_id"), pgh_id__lt=OuterRef("pgh_id")).order_by("-pgh_id")
    rows = rows.annotate(previous_id=Subquery(previous.values("pgh_id")[:1]))
    events = (rows[:limit] if limit is not None else rows).iterator(chunk_size=500)
    while chunk := list(itertools.islice(events, 500)):
        before = model.objects.in_bulk([e.previous_id for e in chunk if e.pgh_label != "insert" and e.previous_id])
        for event in chunk:
            yield _change_row(event, name, patient_id, names, before.get(event.previous_id))


def _values(event) -> dict:
    return {field.attname: getattr(event, field.attname) for field in event._meta.concrete_fields if not field.attname.startswith("pgh_")}


def _change_row(event, name: str, patient_id: int | None, names: dict[int, str], before=None) -> AuditRow:
    context = event.pgh_context or {}
    user_id = context.get("user")
    actor = names.get(user_id, f"user {user_id}") if user_id is not None else context.get("actor", "system")
    values = _values(event)
    detail = json.dumps(values, default=str, sort_keys=True, separators=(",", ":"))
    changed = ""
    if before is not None and event.pgh_label != "delete":
        earlier = _values(before)
        changed = ", ".join(sorted(key for key, value in values.items() if earlier.get(key) != value))
    return AuditRow(at=event.pgh_created_at, kind="change", actor=actor, action=event.pgh_label,
                    object_type=name.removesuffix("History").lower(), object_id=str(event.pgh_obj_id),
                    patient_id=patient_id if patient_id is not None else (event.pgh_obj_id if name == "PatientHistory" else None),
                    ip=context.get("ip", ""), path=context.get("url", ""), detail=detail, changed=changed)


def _accesses(query: AuditQuery, limit: int | None = None) -> Iterator[AuditRow]:
    rows = AccessEvent.objects.all()
    if query.patient_id is not None:
        rows = rows.filter(patient_id=query.patient_id)
    if query.user is not None:
        rows = rows.filter(actor_id=query.user.pk)
    if query.since is not None:
        rows = rows.filter(at__gte=query.since)
    if query.until is not None:
        rows = rows.filter(at__lt=query.until)
    rows = rows.order_by("-at", "-id")
    for event in (rows[:limit] if limit is not None else rows).iterator(chunk_size=500):
        yield AuditRow(at=event.at, kind="access", actor=event.actor_name, action=event.action, object_type=event.object_type,
                       object_id=event.object_id, patient_id=event.patient_id, ip=event.ip, path=event.path,
                       detail=f"{event.channel} {event.method}")


def audit_search(query: AuditQuery, *, limit: int | None = None) -> list[AuditRow] | Iterator[AuditRow]:
    """Access events and change history matching the query, newest first, merged from every table."""
    names = dict(User.objects.values_list("pk", "username"))
    streams = [_accesses(query, limit), *_changes(query, names, limit)]
    merged = heapq.merge(*streams, key=lambda row: row.at, reverse=True)
    return list(itertools.islice(merged, limit)) if limit is not None else merged
