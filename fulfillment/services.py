"""Fulfilment writes: claims and worksheets, compounding records, QC, the final verification, shipping.
(Verification, which moves an order and its jobs together, is in fulfillment.workflows; the beat's
sweeps in fulfillment.upkeep.)"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from formulary.mfrs import MfrNotApproved
from formulary.models import LotStatus, MfrStatus, StockLot
from formulary.services import stock_lots_consume
from fulfillment import documents, order_print, records
from fulfillment.carriers import carrier_for
from fulfillment.models import CompoundingRecord, Job, JobStatus, QCResult, RecordLine, Shipment, Worksheet
from fulfillment.notifications import subscribers
from fulfillment.selectors import ship_to_key
from fulfillment.tasks import render_order_print, render_record_pdf, render_worksheet
from fulfillment.transitions import job_transition
from orders import services as order_services
from orders.models import Order, OrderEventKind
from orders.transitions import event_record
from portal.errors import NotFound, ServiceError
from portal.numbers import day_text

CLAIM_MINUTES = 60
QC_DESCRIPTION_MAX = 2000  # the physical description observed, as the API and the page allow
WEIGHING_TOLERANCE = Decimal("0.05")  # ±5 % per weighing (WM-05)
YIELD_RANGE = (Decimal(95), Decimal(105))  # WM-08
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9-]{6,40}$")


def _dec(raw, field: str, *, low=None, high=None) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError(f"{field} must be a number.", fields={field: [f"{raw!r} is not a number."]}) from None
    if not value.is_finite() or (low is not None and value < low) or (high is not None and value > high):
        raise ServiceError(f"{field} is out of range.", fields={field: [f"{raw} is outside {low}–{high}."]})
    return value


# --- Claims and worksheets -------------------------------------------------------------------

def _claim_fields(by) -> dict:
    now = timezone.now()
    return {"claimed_by": by, "claimed_at": now, "claim_expires_at": now + dt.timedelta(minutes=CLAIM_MINUTES)}


# A new worksheet version only while the preparation is still to be made: once recorded, checked or shipped, the
# signed worksheet is the record on paper.
WORKSHEET_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.REWORK, JobStatus.ON_HOLD})


def worksheet_request(*, job: Job, by=None) -> Worksheet:
    """A new worksheet version, rendered by the worker after commit (the sweep re-sends a lost one)."""
    if job.status not in WORKSHEET_STATUSES:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}: its worksheet can no longer change.",
                           code="illegal_transition", status=409)
    with transaction.atomic():
        last = Worksheet.objects.filter(job=job).order_by("-version").values_list("version", flat=True).first() or 0
        worksheet = Worksheet.objects.create(job=job, version=last + 1, requested_by=by)
        transaction.on_commit(lambda: render_worksheet.delay(worksheet.pk), robust=True)
    return worksheet


def job_claim_next(*, by) -> Job:
    """The highest-priority, oldest waiting job that nobody else is taking right now."""
    with transaction.atomic():
        # A refill waiting for its master formulation record's approval (or review) is not made yet (fulfillment.refills).
        job = (Job.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(status__in=[JobStatus.QUEUED, JobStatus.REWORK])
               .filter(Q(fill=0) | Q(preparation__mfr__status=MfrStatus.APPROVED, preparation__mfr__needs_review=False))
               .order_by("-priority", "created_at").first())
        if job is None:
            raise NotFound("The queue is empty.", code="queue_empty")
        job = job_transition(job=job, to=JobStatus.COMPOUNDING, by=by, **_claim_fields(by))
        worksheet_request(job=job, by=by)
    return job


def job_claim(*, job: Job, by) -> Job:
    from fulfillment.refills import mfr_blocks

    blocked = mfr_blocks(job)
    if blocked:
        raise MfrNotApproved(blocked)
    with transaction.atomic():
        job = job_transition(job=job, to=JobStatus.COMPOUNDING, by=by, **_claim_fields(by))
        worksheet_request(job=job, by=by)
    return job


def job_claim_give_back(*, job: Job, by) -> Job:
    """Give a claimed job back to the queue. (Only the API's route keeps its first name, POST /jobs/{id}/release/;
    the pages and the history say "give back". Release is the pharmacist's final check: job_verify.)"""
    if job.claimed_by_id != by.id and by.role == "technician":
        raise ServiceError("Only the person who claimed the job, or a pharmacist, can give it back.", code="not_your_claim", status=403)
    return job_transition(job=job, to=JobStatus.QUEUED, by=by, claimed_by=None, claimed_at=None, claim_expires_at=None,
                          message="claim given back")


# --- The compounding record ---------------------------------------------------------------

class ExpiredComponent(ServiceError):
    code = "EXPIRED_COMPONENT"


_COMMA_DECIMAL = re.compile(r"^\s*-?\d+,\d+\s*$")


def _weight(raw, *, what: str = "A weight") -> tuple[Decimal | None, str]:
    """A weight as typed at the bench: (grams, "") or (None, the problem in words)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None, "Type the weight the balance shows."
    if _COMMA_DECIMAL.match(text):
        return None, f"Write {text.replace(',', '.')} with a point, not a comma."
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None, f"“{text[:20]}” is not a weight in grams."
    if not value.is_finite():
        return None, f"“{text[:20]}” is not a weight in grams."
    if value < 0:
        return None, f"{what} cannot be negative."
    if value == 0:
        return None, f"{what} of 0 g cannot be recorded; type what the balance shows."
    if value > 100000:
        return None, f"{value.normalize():f} g is more than any batch; check the number."
    return value, ""


def _lot_problem(row: dict, lot_number: str, today) -> tuple[StockLot | None, str, bool]:
    """The lot typed or scanned for `row`: (lot, "", False), or (None, the problem in words, expired?)."""
    if not lot_number:
        return None, "Scan or type the lot used.", False
    wanted = {"material__code": row["lot_item"]} if row["lot_kind"] == "material" else {"base__code": row["lot_item"]}
    lot = StockLot.objects.select_related("material", "base").filter(lot_number=lot_number, **wanted).first()
    if lot is None:
        other = StockLot.objects.filter(lot_number=lot_number).select_related("material", "base").first()
        if other is not None:
            other_name = other.material.name if other.material_id else other.base.name
            return None, f"Lot {lot_number} is of {other_name}, not {row['name']}.", False
        return None, f"No lot {lot_number} of {row['name']} is in stock.", False
    if lot.expires_on < today or lot.status == LotStatus.EXPIRED:
        return None, f"Lot {lot_number} of {row['name']} expired on {day_text(lot.expires_on)}; it cannot be used.", True
    if lot.status != LotStatus.RELEASED:
        return None, f"Lot {lot_number} is {lot.get_status_display().lower()}; use a released lot.", False
    return lot, "", False


def job_record(*, job: Job, by, lots: list[dict], actual_yield_grams) -> CompoundingRecord:
    """Lots used and actual weights for every weighing of the record (documents.record_plan: the base, each
    material, and each aliquot's three weighings), and the yield. Every problem is reported at once, by line
    and field, and nothing is saved until all are right; then stock is deducted by lot, in one transaction.
    Each line keeps exactly the weight typed."""
    _record_while_compounding(job)
    batch = documents.batch_lines(job)
    plan = documents.record_plan(job, batch)
    chosen, yield_grams = _record_lines_check(plan, lots, actual_yield_grams)
    density = Decimal(str(batch["density"])) if batch.get("density") is not None else None
    return _record_write(job=job, by=by, plan=plan, chosen=chosen, theoretical=Decimal(str(batch["quantity"])),
                         yield_grams=yield_grams, density=density, calculations=records.calculations_done(job, batch, plan))


def _record_while_compounding(job: Job) -> None:
    if job.status != JobStatus.COMPOUNDING:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}: record it while compounding.", code="illegal_transition",
                           status=409)


def _record_lines_check(plan: list[dict], lots, actual_yield_grams) -> tuple[dict[tuple[str, str], tuple], Decimal]:
    """Each line names a weighing of the plan once, a released, unexpired lot of the right item, and a weight within
    tolerance; every weighing has a line; the yield is a weight. Returns ({(item, step): (row, lot, grams)}, yield),
    or raises with every problem by line and field (EXPIRED_COMPONENT when a lot has expired)."""
    by_key = {(row["item"], row["step"]): row for row in plan}
    errors: dict[str, list[str]] = {}
    yield_grams, problem = _weight(actual_yield_grams, what="The yield")
    if problem:
        errors["actual_yield_grams"] = [problem]
    if not isinstance(lots, list) or not lots:
        errors["lots"] = ["Record the lot and weight of every line."]
        raise ServiceError("The compounding record is incomplete: see fields.", fields=errors)
    today = timezone.localdate()
    expired = False
    chosen: dict[tuple[str, str], tuple] = {}
    for index, given in enumerate(lots):
        where = f"lots[{index}]"
        if not isinstance(given, dict):
            errors[where] = ["Each line is {item, step, lot_number, actual_grams}."]
            continue
        item, step = str(given.get("item", "")).strip(), str(given.get("step") or "weigh").strip()
        row = by_key.get((item, step))
        if row is None:
            aliquot = any(key[0] == item for key in by_key)
            errors[f"{where}.item"] = [f"{item or '(blank)'} is weighed as an aliquot here: record its three aliquot lines." if aliquot
                                       else f"{item or '(blank)'} is not part of this preparation."]
            continue
        if (item, step) in chosen:
            errors[f"{where}.item"] = [f"{row['label']} is recorded twice."]
            continue
        grams, problem = _weight(given.get("actual_grams"))
        if problem:
            errors[f"{where}.actual_grams"] = [problem]
        elif abs(grams - row["planned"]) > row["planned"] * WEIGHING_TOLERANCE:
            errors[f"{where}.actual_grams"] = [(f"{grams.normalize():f} g is more than 5 % from the {row['planned_text']} g on the "
                                                "worksheet; re-weigh.")]
        lot = None
        if row["takes_lot"]:
            lot, problem, was_expired = _lot_problem(row, str(given.get("lot_number", "")).strip(), today)
            expired = expired or was_expired
            if problem:
                errors[f"{where}.lot_number"] = [problem]
        chosen[(item, step)] = (row, lot, grams)
    missing = [row["label"] for key, row in by_key.items() if key not in chosen]
    if missing:
        errors["lots"] = [f"Missing: {', '.join(missing)}."]
    if errors:
        count = len([k for k in errors if k != "lots"]) or 1
        message = f"The record was not saved: {count} {'entry needs' if count == 1 else 'entries need'} fixing (marked). Nothing typed is lost."
        raise (ExpiredComponent if expired else ServiceError)(message, fields=errors)
    return chosen, yield_grams


def _in_lot_unit(lot: StockLot, grams: Decimal, density: Decimal | None) -> Decimal:
    """Material lots are kept in grams; an mL base's lots in mL: the weighed grams / its density."""
    return (grams / density).quantize(Decimal("0.001")) if lot.base_id and lot.unit == "mL" and density else grams


def _record_write(*, job: Job, by, plan: list[dict], chosen: dict, theoretical: Decimal, yield_grams: Decimal,
                  density: Decimal | None, calculations: dict) -> CompoundingRecord:
    """The record, its lines in the order of addition, the stock taken from each lot (lots locked in id order), and
    the job on to QC: one transaction. An aliquot's portion comes from its mixture: nothing more from stock."""
    lines = []
    for row in plan:
        _row, lot, grams = chosen[(row["item"], row["step"])]
        if row["step"] == "aliquot_portion":
            lot = chosen[(row["item"], "aliquot_material")][1]
        lines.append((row, lot, grams))
    take: dict[int, tuple[StockLot, Decimal]] = {}
    for row, lot, grams in lines:
        if row["step"] == "aliquot_portion":
            continue
        amount = grams
        if row["step"] == "aliquot_base":  # the mixture's weight, less the material weighed into it
            amount = max(grams - chosen[(row["item"], "aliquot_material")][2], Decimal(0))
        held = take.get(lot.pk, (lot, Decimal(0)))
        take[lot.pk] = (lot, held[1] + amount)
    yield_percent = (yield_grams / theoretical * 100).quantize(Decimal("0.01"))
    mfr = records.mfr_for_record(job)
    now = timezone.now()
    with transaction.atomic():
        # Each attempt at making the job gets its own record: after a failed QC and rework, the next one (the failed
        # attempt's record is kept as it was).
        attempt = (CompoundingRecord.objects.filter(attempt_of=job).aggregate(last=Max("attempt"))["last"] or 0) + 1
        record = CompoundingRecord.objects.create(
            job=job, attempt_of=job, attempt=attempt, recorded_by=by, theoretical_grams=theoretical, actual_yield_grams=yield_grams, yield_percent=yield_percent,
            yield_flagged=not (YIELD_RANGE[0] <= yield_percent <= YIELD_RANGE[1]),
            mfr=mfr, mfr_code=mfr.code if mfr else "", mfr_version=mfr.version if mfr else None, calculations=calculations,
        )
        stock_lots_consume(takes=[(lot, _in_lot_unit(lot, grams, density)) for lot, grams in take.values()])
        RecordLine.objects.bulk_create(
            RecordLine(record=record, position=row["position"], step=row["step"], item_code=lot.item_code, item_name=row["name"],
                       description=row["what"][:300], lot=lot, lot_number=lot.lot_number, lot_expires_on=lot.expires_on,
                       planned_grams=row["planned"], actual_grams=grams, supplier=lot.supplier, manufacturer=lot.manufacturer,
                       weighed_by=by, weighed_at=now)
            for row, lot, grams in lines
        )
        job_transition(job=job, to=JobStatus.QC, by=by, message=f"record entered, yield {yield_percent} %")
    return record


# --- QC and the pharmacist's final verification ---------------------------------------------

def job_qc(*, job: Job, by, ph=None, appearance_ok, fill_weight, description: str = "") -> QCResult:
    """QC against the master formula's specifications. `description` is the physical description observed; left
    blank with the appearance as specified, it records the specification as seen ("As specified: …")."""
    if job.status != JobStatus.QC:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}; QC comes after the record.", code="illegal_transition",
                           status=409)
    latest = job.qc_results.order_by("-recorded_at", "-pk").first()
    if latest is not None and latest.passed:
        raise ServiceError(f"Job {job.number} has passed QC; the pharmacist's release comes next.", code="illegal_transition", status=409)
    spec = documents.qc_spec(job)
    errors: dict[str, list[str]] = {}
    fill, problem = _weight(fill_weight, what="The fill weight")
    if problem:
        errors["fill_weight"] = [problem]
    measured = None
    if ph not in (None, ""):
        text = str(ph).strip()
        try:
            measured = Decimal(text.replace(",", ".") if _COMMA_DECIMAL.match(text) else text)
        except (InvalidOperation, ValueError):
            errors["ph"] = [f"“{text[:20]}” is not a pH: type a number from 0 to 14."]
        else:
            if not measured.is_finite() or not (0 <= measured <= 14):
                errors["ph"] = ["A pH is a number from 0 to 14."]
                measured = None
    elif spec["ph_min"] is not None:
        errors["ph"] = ["Measure and type the pH: this preparation contains water."]
    if not isinstance(appearance_ok, bool):
        errors["appearance_ok"] = ["Say whether the appearance is as specified."]
    description = str(description or "").strip()
    if len(description) > QC_DESCRIPTION_MAX:  # never cut what the technician saw: refuse it, nothing saved
        errors["description"] = [f"At most {QC_DESCRIPTION_MAX} characters (this has {len(description)})."]
    if appearance_ok is False and not description:
        description = "Not as specified (nothing described)."
    elif not description:
        mfr = getattr(getattr(job, "record", None), "mfr", None)
        description = f"As specified: {mfr.physical_description if mfr else spec['appearance']}"
    if errors:
        raise ServiceError("QC was not saved: see the marked fields. What you typed is kept.", fields=errors)
    problems = []
    if spec["ph_min"] is not None and not (Decimal(str(spec["ph_min"])) <= measured <= Decimal(str(spec["ph_max"]))):
        problems.append(f"pH {measured.normalize():f} is outside {spec['ph_min']}–{spec['ph_max']}.")
    if not appearance_ok:
        problems.append(f"Appearance is not as specified: {spec['appearance']}.")
    if not (Decimal(str(spec["fill_min"])) <= fill <= Decimal(str(spec["fill_max"]))):
        if spec["density"]:
            as_ml = (fill / Decimal(str(spec["density"]))).quantize(Decimal("0.1"))
            problems.append(f"Fill weight {fill.normalize():f} g (≈ {as_ml} mL) is outside {spec['fill_min']}–{spec['fill_max']} g "
                            f"({spec['fill_min_ml']}–{spec['fill_max_ml']} mL).")
        else:
            problems.append(f"Fill weight {fill.normalize():f} {spec['unit']} is outside {spec['fill_min']}–{spec['fill_max']} {spec['unit']}.")
    flags = []
    if job.record.yield_flagged:
        flags.append(f"Yield {job.record.yield_percent} % is outside 95–105 %.")
    with transaction.atomic():
        result = QCResult.objects.create(job=job, record=job.record, measured_ph=measured, appearance_ok=appearance_ok, fill_weight=fill,
                                         passed=not problems, problems=problems + flags, recorded_by=by, description=description)
        if problems:
            job_transition(job=job, to=JobStatus.REWORK, by=by, message=f"QC failed: {' '.join(problems)}")
            # The attempt is over: its record is kept as it was, with this failure, and is no longer the job's current
            # one; the rework makes a new batch with its own record.
            CompoundingRecord.objects.filter(pk=job.record.pk).update(job=None)
            job._state.fields_cache.pop("record", None)
        else:
            event_record(order=job.preparation.order, preparation=job.preparation, kind=OrderEventKind.QC_PASSED, actor=by,
                         message=documents.qc_text(result, job.preparation.unit).replace(" · ", ", "))
    return result


def job_verify(*, job: Job, by) -> Job:
    """The pharmacist's final check: record complete, QC passed, label complete. Then ready to ship."""
    problems = []
    record = getattr(job, "record", None)
    if record is None:
        problems.append("There is no compounding record.")
    latest = job.qc_results.order_by("-recorded_at", "-pk").first()
    if latest is None or not latest.passed:
        problems.append("QC has not passed.")
    label = documents.label_context(job) if record is not None else {}
    missing = documents.label_missing(label) if record is not None else ["the label"]
    if missing:
        problems.append(f"The label lacks {', '.join(missing)}.")
    if problems:
        raise ServiceError("Cannot release: " + " ".join(problems), code="release_refused", status=409)
    # The pharmacist's completeness review of the compounding record (USP <795> 7.3): every missing item named.
    incomplete = records.record_missing(job)
    if incomplete:
        raise ServiceError("Cannot release: the compounding record is incomplete. It lacks " + "; ".join(incomplete) + ".",
                           code="record_incomplete", status=409, fields={"record": [f"Missing: {item}." for item in incomplete]})
    now = timezone.now()
    with transaction.atomic():
        job = job_transition(job=job, to=JobStatus.READY, by=by, verified_by=by, verified_at=now,
                             message="verified and released by the pharmacist")
        if job.fill:
            from fulfillment.refills import refill_release

            refill_release(job=job, by=by)  # one refill fewer remains
        frozen = CompoundingRecord.objects.filter(pk=record.pk, frozen__isnull=True).update(**records.record_freeze_fields(job, by=by, at=now))
        if frozen != 1:
            raise ServiceError(f"The compounding record of {job.number} was already released.", code="record_frozen", status=409)
        transaction.on_commit(lambda: render_record_pdf.delay(record.pk), robust=True)
    return job


# --- Shipping ------------------------------------------------------------------------------

def shipment_create(*, by, jobs: list[Job], carrier: str, service: str, tracking_number: str, cold_pack: bool) -> Shipment:
    adapter = carrier_for(carrier)  # an unknown carrier is refused here
    tracking_number = str(tracking_number or "")
    if not tracking_number.strip():
        raise ServiceError("Enter the carrier's tracking number: 6–40 letters, digits or dashes, without spaces.",
                           fields={"tracking_number": ["Enter the carrier's tracking number."]})
    if not TRACKING_NUMBER.match(tracking_number):
        raise ServiceError("A tracking number is 6–40 letters, digits or dashes, without spaces.",
                           fields={"tracking_number": ["6–40 letters, digits or dashes."]})
    if not (service or "").strip() or len(service) > 60:
        raise ServiceError("Name the carrier's service.", fields={"service": ["1–60 characters."]})
    if not jobs:
        raise ServiceError("Choose the jobs in this package.", fields={"jobs": ["This field is required."]})
    orders = {job.preparation.order_id: job.preparation.order for job in jobs}
    if len({order.patient_id for order in orders.values()}) != 1:
        raise ServiceError("A parcel goes to one patient: these jobs are for different patients.",
                           fields={"jobs": ["Jobs of different patients."]})
    if len({ship_to_key(order) for order in orders.values()}) != 1:
        raise ServiceError("A parcel goes to one address: these orders ship to different addresses.",
                           fields={"jobs": ["Orders with different ship-to addresses."]})
    not_ready = [job.number for job in jobs if job.status != JobStatus.READY]
    if not_ready:
        raise ServiceError(f"Not ready to ship: {', '.join(not_ready)} (QC and the pharmacist's release come first).",
                           code="illegal_transition", status=409)
    if any(job.preparation.storage == "refrigerate" for job in jobs) and not cold_pack:
        raise ServiceError("A preparation to be refrigerated ships with a cold pack.", fields={"cold_pack": ["Required for this package."]})
    with transaction.atomic():
        try:
            with transaction.atomic():
                shipment = Shipment.objects.create(patient_id=jobs[0].preparation.order.patient_id, carrier=carrier,
                                                   service=service.strip(), tracking_number=tracking_number, cold_pack=bool(cold_pack),
                                                   shipped_by=by, shipped_at=timezone.now())
        except IntegrityError:
            raise ServiceError("That tracking number is already on another shipment.", fields={"tracking_number": ["Already used."]}) from None
        shipment.orders.set(sorted(orders))
        Shipment.objects.filter(pk=shipment.pk).update(estimated_delivery_date=adapter.estimated_delivery(shipment))
        for job in sorted(jobs, key=lambda job: (job.preparation.order_id, job.pk)):  # order rows locked in one fixed order
            job_transition(job=job, to=JobStatus.SHIPPED, by=by, shipment=shipment, message=f"shipped {carrier_for(carrier).name} {tracking_number}")
        # Once shipped, each order's expected delivery is the carrier's (the latest of its parcels).
        for order_id in sorted(orders):
            latest = max(Shipment.objects.filter(orders=order_id).values_list("estimated_delivery_date", flat=True))
            order_services.order_delivery_estimate_set(order=orders[order_id], delivery_date=latest)
        subscribers.on_shipped(shipment=shipment)
    return shipment


# --- The prescriber's printable order ------------------------------------------------------

def order_print_request(order: Order) -> bool:
    """Queue the render unless it is ready or already asked for (a minute's grace). True when ready."""
    if order_print.order_print_ready(order):
        return True
    if cache.add(f"order-print-queued-{order.pk}-{order.version}", 1, timeout=60):
        render_order_print.delay(order.pk)
    return False
