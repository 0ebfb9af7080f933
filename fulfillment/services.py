"""Fulfilment writes: claims and worksheets, compounding records, QC, the final verification, shipping.
(Verification, which moves an order and its jobs together, is in fulfillment.workflows; the beat's
sweeps in fulfillment.upkeep.)"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from formulary.models import LotStatus, StockLot
from formulary.services import stock_lots_consume
from fulfillment import documents, order_print
from fulfillment.carriers import carrier_for
from fulfillment.models import CompoundingRecord, Job, JobStatus, QCResult, RecordLine, Shipment, Worksheet
from fulfillment.notifications import subscribers
from fulfillment.tasks import render_order_print, render_worksheet
from fulfillment.transitions import job_transition
from orders.models import Order
from orders import services as order_services
from portal.errors import NotFound, ServiceError

CLAIM_MINUTES = 60
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


def worksheet_request(*, job: Job, by=None) -> Worksheet:
    """A new worksheet version, rendered by the worker after commit (the sweep re-sends a lost one)."""
    with transaction.atomic():
        last = Worksheet.objects.filter(job=job).order_by("-version").values_list("version", flat=True).first() or 0
        worksheet = Worksheet.objects.create(job=job, version=last + 1, requested_by=by)
        transaction.on_commit(lambda: render_worksheet.delay(worksheet.pk), robust=True)
    return worksheet


def job_claim_next(*, by) -> Job:
    """The highest-priority, oldest waiting job that nobody else is taking right now."""
    with transaction.atomic():
        job = (Job.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(status__in=[JobStatus.QUEUED, JobStatus.REWORK]).order_by("-priority", "created_at").first())
        if job is None:
            raise NotFound("The queue is empty.", code="queue_empty")
        job = job_transition(job=job, to=JobStatus.COMPOUNDING, by=by, **_claim_fields(by))
        worksheet_request(job=job, by=by)
    return job


def job_claim(*, job: Job, by) -> Job:
    with transaction.atomic():
        job = job_transition(job=job, to=JobStatus.COMPOUNDING, by=by, **_claim_fields(by))
        worksheet_request(job=job, by=by)
    return job


def job_claim_give_back(*, job: Job, by) -> Job:
    """Give a claimed job back to the queue (the route and the button say "release claim"; the pharmacist's
    final check is job_verify)."""
    if job.claimed_by_id != by.id and by.role == "technician":
        raise ServiceError("Only the person who claimed the job, or a pharmacist, can release it.", code="not_your_claim", status=403)
    return job_transition(job=job, to=JobStatus.QUEUED, by=by, claimed_by=None, claimed_at=None, claim_expires_at=None,
                          message=f"{job.number} released")


# --- The compounding record ---------------------------------------------------------------

class ExpiredComponent(ServiceError):
    code = "EXPIRED_COMPONENT"


def job_record(*, job: Job, by, lots: list[dict], actual_yield_grams) -> CompoundingRecord:
    """Lots used and actual weights for every material and the base; stock deducted by lot, in one transaction."""
    _record_while_compounding(job)
    batch = documents.batch_lines(job)
    planned = {line["item"]: line for line in batch["lines"]}
    yield_grams = _dec(actual_yield_grams, "actual_yield_grams", low=Decimal("0.001"), high=Decimal(100000))
    chosen = _record_lines_check(planned, lots)
    density = Decimal(str(batch["density"])) if batch.get("density") is not None else None
    return _record_write(job=job, by=by, chosen=chosen, theoretical=Decimal(str(batch["quantity"])), yield_grams=yield_grams,
                         density=density)


def _record_while_compounding(job: Job) -> None:
    if job.status != JobStatus.COMPOUNDING:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}: record it while compounding.", code="illegal_transition",
                           status=409)


def _record_lines_check(planned: dict[str, dict], lots) -> list[tuple]:
    """Each line names a planned item once, a released, unexpired lot of it, and a weight within tolerance; every
    planned item has a line. Returns (item, lot, grams, planned grams) per line, or raises with every problem."""
    if not isinstance(lots, list) or not lots:
        raise ServiceError("Record the lot and weight of every material and the base.", fields={"lots": ["This field is required."]})
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    chosen = []
    seen = set()
    for index, row in enumerate(lots):
        where = f"lots[{index}]"
        if not isinstance(row, dict):
            errors[where] = ["Each line is {item, lot_number, actual_grams}."]
            continue
        item, lot_number = str(row.get("item", "")).strip(), str(row.get("lot_number", "")).strip()
        if item not in planned:
            errors[f"{where}.item"] = [f"{item or '(blank)'} is not part of this preparation."]
            continue
        if item in seen:
            errors[f"{where}.item"] = [f"{item} is recorded twice."]
            continue
        seen.add(item)
        try:
            grams = _dec(row.get("actual_grams"), f"{where}.actual_grams", low=Decimal("0.001"), high=Decimal(100000))
        except ServiceError as exc:
            errors.update(exc.fields)
            continue
        lot = _record_lot(planned[item], item, lot_number, where, today, errors)
        if lot is None:
            continue
        want = Decimal(str(planned[item]["quantity"]))
        if not planned[item]["below_minimum_weighable"] and abs(grams - want) > want * WEIGHING_TOLERANCE:
            errors[f"{where}.actual_grams"] = [f"{grams} g is more than 5 % from the {want} g on the worksheet; re-weigh."]
            continue
        chosen.append((item, lot, grams, want))
    missing = [item for item in planned if item not in seen]
    if missing:
        errors["lots"] = [f"Missing: {', '.join(missing)}."]
    if errors:
        raise ServiceError("The compounding record is incomplete or wrong: see fields.", fields=errors)
    return chosen


def _record_lot(line: dict, item: str, lot_number: str, where: str, today, errors: dict) -> StockLot | None:
    """The lot named on a line, if it is of the item, released and in date. An expired lot stops the record at once."""
    lot = StockLot.objects.select_related("material", "base").filter(lot_number=lot_number).filter(
        **({"material__code": item} if line["kind"] == "material" else {"base__code": item})).first()
    if lot is None:
        other = StockLot.objects.filter(lot_number=lot_number).select_related("material", "base").first()
        errors[f"{where}.lot_number"] = [f"Lot {lot_number} is of {other.item_code}, not {item}." if other
                                         else f"No lot {lot_number} of {item}."]
        return None
    if lot.expires_on < today or lot.status == LotStatus.EXPIRED:
        raise ExpiredComponent(f"Lot {lot_number} of {item} expired on {lot.expires_on}; it cannot be used.",
                               fields={f"{where}.lot_number": ["EXPIRED_COMPONENT"]})
    if lot.status != LotStatus.RELEASED:
        errors[f"{where}.lot_number"] = [f"Lot {lot_number} is {lot.get_status_display().lower()}; use a released lot."]
        return None
    return lot


def _in_lot_unit(lot: StockLot, grams: Decimal, density: Decimal | None) -> Decimal:
    return (grams / density).quantize(Decimal("0.001")) if lot.base_id and lot.unit == "mL" and density else grams


def _record_write(*, job: Job, by, chosen: list[tuple], theoretical: Decimal, yield_grams: Decimal,
                  density: Decimal | None) -> CompoundingRecord:
    """The record, its lines and the stock taken from each lot, and the job on to QC: one transaction."""
    yield_percent = (yield_grams / theoretical * 100).quantize(Decimal("0.01"))
    with transaction.atomic():
        record = CompoundingRecord.objects.create(
            job=job, recorded_by=by, theoretical_grams=theoretical, actual_yield_grams=yield_grams, yield_percent=yield_percent,
            yield_flagged=not (YIELD_RANGE[0] <= yield_percent <= YIELD_RANGE[1]),
        )
        # Material lots are kept in grams; an mL base's lots in mL: the weighed grams / its density.
        stock_lots_consume(takes=[(lot, _in_lot_unit(lot, grams, density)) for _item, lot, grams, _want in chosen])
        for item, lot, grams, want in chosen:
            RecordLine.objects.create(record=record, item_code=item, lot=lot, lot_number=lot.lot_number, lot_expires_on=lot.expires_on,
                                      planned_grams=want, actual_grams=grams)
        job_transition(job=job, to=JobStatus.QC, by=by, message=f"{job.number}: record entered, yield {yield_percent} %")
    return record


# --- QC and the pharmacist's final verification ---------------------------------------------

def job_qc(*, job: Job, by, ph=None, appearance_ok, fill_weight) -> QCResult:
    if job.status != JobStatus.QC:
        raise ServiceError(f"Job {job.number} is {job.get_status_display().lower()}; QC comes after the record.", code="illegal_transition",
                           status=409)
    spec = documents.qc_spec(job)
    fill = _dec(fill_weight, "fill_weight", low=Decimal("0.001"), high=Decimal(100000))
    measured = None if ph in (None, "") else _dec(ph, "ph", low=Decimal(0), high=Decimal(14))
    if not isinstance(appearance_ok, bool):
        raise ServiceError("Say whether the appearance is right.", fields={"appearance_ok": ["true or false."]})
    problems = []
    if spec["ph_min"] is not None:
        if measured is None:
            raise ServiceError("Measure the pH of an aqueous preparation.", fields={"ph": ["This field is required."]})
        if not (Decimal(str(spec["ph_min"])) <= measured <= Decimal(str(spec["ph_max"]))):
            problems.append(f"pH {measured} is outside {spec['ph_min']}–{spec['ph_max']}.")
    if not appearance_ok:
        problems.append(f"Appearance is not as specified: {spec['appearance']}.")
    if not (Decimal(str(spec["fill_min"])) <= fill <= Decimal(str(spec["fill_max"]))):
        if spec["density"]:
            as_ml = (fill / Decimal(str(spec["density"]))).quantize(Decimal("0.1"))
            problems.append(f"Fill weight {fill.normalize():f} g (≈ {as_ml} mL) is outside {spec['fill_min']}–{spec['fill_max']} g "
                            f"({spec['fill_min_ml']}–{spec['fill_max_ml']} mL).")
        else:
            problems.append(f"Fill weight {fill} {spec['unit']} is outside {spec['fill_min']}–{spec['fill_max']} {spec['unit']}.")
    flags = []
    if job.record.yield_flagged:
        flags.append(f"Yield {job.record.yield_percent} % is outside 95–105 %.")
    with transaction.atomic():
        result = QCResult.objects.create(job=job, measured_ph=measured, appearance_ok=appearance_ok, fill_weight=fill,
                                         passed=not problems, problems=problems + flags, recorded_by=by)
        if problems:
            job_transition(job=job, to=JobStatus.REWORK, by=by, message=f"{job.number}: QC failed: {' '.join(problems)}")
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
    return job_transition(job=job, to=JobStatus.READY, by=by, verified_by=by, verified_at=timezone.now(),
                          message=f"{job.number}: verified and released by the pharmacist")


# --- Shipping ------------------------------------------------------------------------------

def shipment_create(*, by, jobs: list[Job], carrier: str, service: str, tracking_number: str, cold_pack: bool) -> Shipment:
    adapter = carrier_for(carrier)  # an unknown carrier is refused here
    tracking_number = str(tracking_number or "")
    if not TRACKING_NUMBER.match(tracking_number):
        raise ServiceError("A tracking number is 6–40 letters, digits or dashes, without spaces.",
                           fields={"tracking_number": ["6–40 letters, digits or dashes."]})
    if not (service or "").strip() or len(service) > 60:
        raise ServiceError("Name the carrier's service.", fields={"service": ["1–60 characters."]})
    if not jobs:
        raise ServiceError("Choose the jobs in this package.", fields={"jobs": ["This field is required."]})
    if len({job.preparation.order_id for job in jobs}) != 1:
        raise ServiceError("A shipment holds jobs of one order.", fields={"jobs": ["Jobs of different orders."]})
    not_ready = [job.number for job in jobs if job.status != JobStatus.READY]
    if not_ready:
        raise ServiceError(f"Not ready to ship: {', '.join(not_ready)} (QC and the pharmacist's release come first).",
                           code="illegal_transition", status=409)
    if any(job.preparation.storage == "refrigerate" for job in jobs) and not cold_pack:
        raise ServiceError("A preparation to be refrigerated ships with a cold pack.", fields={"cold_pack": ["Required for this package."]})
    with transaction.atomic():
        try:
            with transaction.atomic():
                shipment = Shipment.objects.create(order_id=jobs[0].preparation.order_id, carrier=carrier, service=service.strip(),
                                                   tracking_number=tracking_number, cold_pack=bool(cold_pack), shipped_by=by,
                                                   shipped_at=timezone.now())
        except IntegrityError:
            raise ServiceError("That tracking number is already on another shipment.", fields={"tracking_number": ["Already used."]}) from None
        Shipment.objects.filter(pk=shipment.pk).update(estimated_delivery_date=adapter.estimated_delivery(shipment))
        for job in jobs:
            job_transition(job=job, to=JobStatus.SHIPPED, by=by, shipment=shipment, message=f"{job.number}: shipped {carrier} {tracking_number}")
        # Once shipped, the order's expected delivery is the carrier's (the latest of its parcels).
        latest = max(Shipment.objects.filter(order_id=shipment.order_id).values_list("estimated_delivery_date", flat=True))
        order_services.order_delivery_estimate_set(order=jobs[0].preparation.order, delivery_date=latest)
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
