"""Worksheets and labels: what they say (from the signed snapshot and today's stock) and the PDF.

WeasyPrint renders with a fetcher that refuses every URL: the templates carry their CSS inline
and every value is escaped, so nothing a user typed can make the renderer read a file or call
a URL (reference §2.1)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import barcode
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from formulary.compounding import EQUIPMENT, VEHICLE_STEPS, added_late, equipment_line  # noqa: F401 - kept in formulary for the MFR
from formulary.rules_facts_builder import formulary_facts, lots_for
from fulfillment.models import Job
from orders.presentation import allergy_names, free_of_line, percent_text, preparation_safety, quantity_text
from orders.rules.arithmetic import fefo
from orders.rules.dating import beyond_use
from orders.rules.engine import STORAGE_TEXT
from formulary.routes import route_name
from portal.models import Pharmacy


class DenyAllFetcher(URLFetcher):
    """Refuses every URL (file, http, data …). Records what was asked, for tests and logs."""

    def __init__(self):
        super().__init__(allowed_protocols=(), fail_on_errors=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        self.refused.append(url)
        raise ValueError(f"blocked: the renderer fetches nothing ({url[:80]})")


def render_pdf(html: str) -> tuple[bytes, list[str]]:
    fetcher = DenyAllFetcher()
    pdf = HTML(string=html, base_url="about:blank", url_fetcher=fetcher).write_pdf()
    return pdf, fetcher.refused


def barcode_bars(value: str) -> list[dict]:
    """Code 128 as runs of bars and spaces, drawn by the template (no image to fetch)."""
    modules = barcode.get("code128", value).build()[0]
    runs, current, width = [], modules[0], 0
    for module in modules:
        if module == current:
            width += 1
        else:
            runs.append({"bar": current == "1", "width": width})
            current, width = module, 1
    runs.append({"bar": current == "1", "width": width})
    return runs


def batch_lines(job: Job) -> dict:
    """The grams of the signed snapshot, with today's lots to use first-to-expire-first."""
    prep = job.preparation
    batch = prep.checked["batch"]
    materials = [line["item"] for line in batch["lines"] if line["kind"] == "material"]
    bases = [line["item"] for line in batch["lines"] if line["kind"] == "base"]
    stock = lots_for(material_codes=materials, base_codes=bases, on=timezone.localdate())
    by_item: dict[str, list] = {}
    for lot in stock:
        by_item.setdefault(lot.item_code, []).append(lot)
    lines = []
    for line in batch["lines"]:
        quantity = Decimal(str(line["quantity"]))
        # An mL base is kept in mL: its lots are counted against the line's volume, not its grams.
        need = Decimal(str(line["millilitres"])) if line["kind"] == "base" and line.get("millilitres") is not None else quantity
        chosen, enough = fefo(by_item.get(line["item"], []), need)
        lines.append({**line, "lots": [{"lot_number": lot.lot_number, "expires_on": lot.expires_on} for lot in chosen],
                      "enough": enough, "aliquot": _aliquot(quantity, Decimal(str(batch["minimum_weighable_g"])))["text"]
                      if line["below_minimum_weighable"] else None})
    return {**batch, "lines": lines}


def _aliquot(quantity: Decimal, mwq: Decimal) -> dict:
    """Aliquot method (WM-04): weigh f × q of the material, make it up to f × MWQ with base, mix, and take
    MWQ of the mixture into the batch; that portion carries q of the material and MWQ − q of base, so the
    base weighed directly is MWQ − q less."""
    factor = 10 if quantity * 10 >= mwq else 100
    material, total = quantity * factor, mwq * factor
    return {"factor": factor, "material": material, "total": total, "portion": mwq, "base_less": mwq - quantity,
            "text": (f"Aliquot: weigh {_g(material)} g of the material, make up to {_g(total)} g with the base and mix well; "
                     f"weigh {_g(mwq)} g of this mixture into the batch ({_g(mwq - quantity)} g less base is weighed).")}


def _g(value: Decimal) -> str:
    """Grams as the balance shows them (0.01 g), without a trailing exponent."""
    return f"{value.quantize(Decimal('0.01')):f}"


def _added_late(line: dict, categories: dict[str, str]) -> bool:
    return added_late(name=line.get("name") or "", category=categories.get(line["item"]))


def record_plan(job: Job, batch: dict | None = None) -> list[dict]:
    """Every weighing of the compounding record, in the order of addition: the base first (the rest of
    the batch, already less what the aliquots bring), the materials, lysates and ferments last; a material
    below the minimum weighable quantity as its three aliquot weighings. The page, the worksheet and
    job_record all read this list, so the table, the steps and what is checked always agree."""
    batch = batch or batch_lines(job)
    mwq = Decimal(str(batch["minimum_weighable_g"]))
    facts = formulary_facts()
    categories = {code: m.category for code, m in facts.materials.items()}
    base_line = next((line for line in batch["lines"] if line["kind"] == "base"), None)
    materials = [line for line in batch["lines"] if line["kind"] == "material"]
    materials = [line for line in materials if not _added_late(line, categories)] + [line for line in materials if _added_late(line, categories)]
    mfr = mfr_followed(job.preparation)
    if mfr is not None:  # the order of addition is the master formulation record's (lysates and ferments still last)
        rank = {component["code"]: index for index, component in enumerate(mfr.components)}
        materials.sort(key=lambda line: (_added_late(line, categories), rank.get(line["item"], len(rank))))
    lots_by_item = {line["item"]: line["lots"] for line in batch["lines"]}
    enough = {line["item"]: line.get("enough", True) for line in batch["lines"]}
    rows: list[dict] = []
    aliquots = {line["item"]: _aliquot(Decimal(str(line["quantity"])), mwq) for line in materials if line["below_minimum_weighable"]}
    if base_line is not None:
        less = sum((a["base_less"] for a in aliquots.values()), Decimal(0))
        planned = Decimal(str(base_line["quantity"])) - less
        note = f"the rest, {_g(less)} g less for the aliquot{'s' if len(aliquots) > 1 else ''}" if aliquots else "the rest of the batch"
        remainder = Decimal(str(base_line["quantity"]))
        millilitres = base_line.get("millilitres")
        if millilitres is not None and less and remainder:  # the base's volume, less what the aliquots bring, as the grams are
            millilitres = f"{(Decimal(str(millilitres)) * planned / remainder).quantize(Decimal('0.01')):f}"
        rows.append({"item": base_line["item"], "step": "weigh", "name": base_line["name"], "lot_item": base_line["item"],
                     "lot_kind": "base", "planned": planned, "millilitres": millilitres, "what": f"{base_line['name']} ({note})", "label": base_line["name"],
                     "takes_lot": True, "share_percent": base_line["share_percent"]})
    for line in materials:
        code, name = line["item"], line["name"]
        late = _added_late(line, categories)
        when = "last, below 40 °C" if late else ""
        aliquot = aliquots.get(code)
        if aliquot is None:
            rows.append({"item": code, "step": "weigh", "name": name, "lot_item": code, "lot_kind": "material",
                         "planned": Decimal(str(line["quantity"])), "millilitres": line.get("millilitres"), "what": name + (f" ({when})" if when else ""), "label": name,
                         "takes_lot": True, "share_percent": line["share_percent"]})
            continue
        base_name = base_line["name"] if base_line else "the base"
        rows += [
            {"item": code, "step": "aliquot_material", "name": name, "lot_item": code, "lot_kind": "material",
             "planned": aliquot["material"], "what": f"{name}: aliquot ({aliquot['factor']} × {_g(Decimal(str(line['quantity'])))} g, "
             "too light to weigh directly)", "label": f"{name} for the aliquot", "takes_lot": True,
             "share_percent": line["share_percent"]},
            {"item": code, "step": "aliquot_base", "name": base_name, "lot_item": base_line["item"] if base_line else "",
             "lot_kind": "base", "planned": aliquot["total"], "what": f"{name} aliquot: made up to {_g(aliquot['total'])} g with the base, mixed (weigh the mixture)", "label": f"the {name} aliquot mixture", "takes_lot": True, "share_percent": None},
            {"item": code, "step": "aliquot_portion", "name": name, "lot_item": code, "lot_kind": "material",
             "planned": aliquot["portion"], "what": f"{name} aliquot: {_g(aliquot['portion'])} g of the mixture into the batch" + (f" ({when})" if when else ""),
             "label": f"the {name} aliquot portion", "takes_lot": False, "share_percent": None},
        ]
    for position, row in enumerate(rows, start=1):
        row["position"] = position
        row["key"] = row["item"] if row["step"] == "weigh" else f"{row['item']}.{row['step']}"
        row["lots"] = lots_by_item.get(row["lot_item"], [])
        row["enough"] = enough.get(row["lot_item"], True)
        row["planned_text"] = _g(row["planned"])
        row.setdefault("millilitres", None)
    return rows


def density_of(prep) -> Decimal | None:
    """The base's density (g/mL) the preparation was checked with, when it is made in mL."""
    density = (prep.checked.get("batch") or {}).get("density")
    return Decimal(str(density)) if density is not None and prep.unit == "mL" else None


def as_grams(millilitres: Decimal, density: Decimal, places: str = "0.1") -> Decimal:
    return (millilitres * density).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def volume_context(prep, batch: dict) -> dict | None:
    """For a preparation made in mL: '100 mL ≈ 102.0 g' for the dispensed quantity and the batch, and the density's source."""
    density = density_of(prep)
    if density is None:
        return None
    base = formulary_facts().bases.get(prep.base_code)
    return {
        "density": density,
        "source": base.density_source if base else "",
        "dispensed": f"{prep.quantity.normalize():f} mL ≈ {as_grams(prep.quantity, density)} g",
        "batch": f"{Decimal(str(batch['volume'])).normalize():f} mL ≈ {Decimal(str(batch['quantity'])).quantize(Decimal('0.01'))} g",
    }


def qc_spec(job: Job) -> dict:
    """pH, appearance and fill. A preparation made in mL is filled by weight: the fill is checked in
    grams (volume × density) and shown in mL beside it."""
    prep = job.preparation
    checked = prep.checked
    aqueous = checked.get("aqueous")
    target = checked.get("target_ph")
    quantity = Decimal(prep.quantity)
    fill_max = (quantity * Decimal("1.05")).quantize(Decimal("0.01"))
    spec = {
        "ph_min": round(target - 0.5, 2) if aqueous and target is not None else None,
        "ph_max": round(target + 0.5, 2) if aqueous and target is not None else None,
        "appearance": f"smooth, uniform {prep.base_name.lower()}; no separation, grit or colour change",
        "fill_min": float(quantity),
        "fill_max": float(fill_max),
        "unit": prep.unit,
        "density": None,
    }
    density = density_of(prep)
    if density is not None:
        spec.update({
            "density": float(density),
            "fill_min_ml": float(quantity), "fill_max_ml": float(fill_max),
            "fill_min": float(as_grams(quantity, density, "0.01")), "fill_max": float(as_grams(fill_max, density, "0.01")),
            "unit": "g",
        })
    return spec


def qc_text(qc, unit: str) -> str:
    """'pH 5.1 · fill 51 g · appearance as specified': a QC result as people say it. The fill is always weighed, so it is in
    grams whatever the preparation's unit (a 100 mL shampoo's fill reads 'fill 102.5 g'); `unit` is kept for callers."""
    parts = []
    if qc.measured_ph is not None:
        parts.append(f"pH {qc.measured_ph.normalize():f}")
    parts.append(f"fill {qc.fill_weight.normalize():f} g")
    parts.append("appearance as specified" if qc.appearance_ok else "appearance not as specified")
    return " · ".join(parts)


def ship_defaults(preparations) -> dict:
    """A refrigerated preparation goes overnight with a cold pack; everything else ground."""
    cold = any(prep.storage == "refrigerate" for prep in preparations)
    return {"service": "Overnight" if cold else "Ground", "cold_pack": cold}


def _initials(patient) -> str:
    return f"{patient.first_name[:1]}.{patient.last_name[:1]}.".upper()


def fill_text(job: Job) -> str:
    return "original fill" if job.fill == 0 else f"refill {job.fill}"


def mfr_followed(prep):
    """The approved master formulation record a job of this preparation is made from: its own, or (a refill after a
    new version was approved) the approved version of the same formulation; None when there is none."""
    from formulary.models import MfrStatus
    from formulary.selectors import mfr_approved_of

    mfr = prep.mfr
    if mfr is None or mfr.status == MfrStatus.APPROVED:
        return mfr
    return mfr_approved_of(formulation_key=mfr.formulation_key)


def worksheet_context(job: Job, version: int) -> dict:

    prep = job.preparation
    order = prep.order
    base = formulary_facts().bases.get(prep.base_code)
    vehicle = base.vehicle if base else ""
    batch = batch_lines(job)
    volume = volume_context(prep, batch)
    mfr = mfr_followed(prep)
    return {
        "pharmacy": Pharmacy.objects.order_by("pk").first(),
        "job": job,
        "version": version,
        "bars": barcode_bars(job.number),
        "order": order,
        "prep": prep,
        "patient_initials": _initials(order.patient),
        "patient_dob": order.patient.date_of_birth,
        "prescriber": order.prescriber,
        "vehicle": vehicle.replace("_", " "),
        # The worksheet follows the approved master formulation record (USP <795> 7.2): its steps and equipment.
        "mfr": mfr,
        "steps": mfr.steps if mfr else VEHICLE_STEPS.get(vehicle, ["Weigh the base.", "Add each material in the order listed.", "Mix until uniform."]),
        "equipment": mfr.equipment if mfr else equipment_line(vehicle),
        "batch": batch,
        "volume": volume,
        "plan": record_plan(job, batch),
        "safety": preparation_safety(prep),
        "fill_text": fill_text(job),
        "tolerance": "±5 % per weighing",
        "qc": qc_spec(job),
        "bud_days": prep.beyond_use_days,
        # the worksheet is printed on the day of compounding: its dates assume today
        "dating": dating_context(prep, compounded_on=timezone.localdate(),
                                 lot_expiries=[lot["expires_on"] for line in batch["lines"] for lot in line["lots"]]),
        "storage_text": STORAGE_TEXT.get(prep.storage, prep.storage),
        "generated_at": timezone.now(),
    }


def dating_context(prep, *, compounded_on: dt.date, lot_expiries=()) -> dict:
    """The beyond-use date as people read it: the date, what it rests on, and the table's date beside an assigned one."""
    dating = beyond_use(compounded_on=compounded_on, table_days=prep.beyond_use_days, assigned_days=prep.assigned_bud_days,
                        lot_expiries=lot_expiries)
    return {
        "date": dating.date, "table_date": dating.table_date, "assigned": dating.assigned, "limited_by_lot": dating.limited_by_lot,
        "assigned_days": prep.assigned_bud_days, "table_days": prep.beyond_use_days, "citation": prep.bud_citation,
        "reason": prep.bud_reason, "assigned_by": prep.bud_assigned_by, "assigned_at": prep.bud_assigned_at,
    }


def label_context(job: Job, record=None) -> dict:
    """The label's words for the job's current record (or `record`, one of its attempts)."""
    prep = job.preparation
    order = prep.order
    record = record or job.record
    compounded_on = timezone.localtime(record.recorded_at).date()
    dating = dating_context(prep, compounded_on=compounded_on, lot_expiries=[line.lot_expires_on for line in record.lines.all()])
    bud = dating["date"]
    pharmacy = Pharmacy.objects.order_by("pk").first()

    return {
        "patient_name": f"{order.patient.first_name} {order.patient.last_name}",
        # What the patient is allergic to travels with the jar: whoever opens or refills it sees it.
        "allergies": allergy_names(order.patient),
        "free_of_line": free_of_line(prep.exclusions),
        "route": route_name(prep.route),
        "pharmacy_address": " ".join((pharmacy.address or "").split()) if pharmacy else "",
        "bars": barcode_bars(job.number),
        "preparation": prep.base_name + (" with " + ", ".join(f"{line['name']} {percent_text(line['percent'])}".replace(" %", "\u00a0%")
                                                              for line in prep.ingredients) if prep.ingredients else ""),
        "actives": prep.ingredients,
        "directions": prep.directions,
        "quantity": quantity_text(prep.quantity, prep.unit),
        "beyond_use_date": bud,
        "dating": dating,
        "storage_line": STORAGE_TEXT.get(prep.storage, ""),
        "rx_number": job.number,
        "prescriber": str(order.prescriber),
        "pharmacy_name": pharmacy.name if pharmacy else settings.PHARMACY_NAME,
        "pharmacy_phone": pharmacy.phone if pharmacy else "",
        "compounded_on": compounded_on,
        # "No refills" rather than "Refills 0 of 0"; otherwise how many are left of those written.
        "refills": f"Refills left: {prep.refills_remaining} of {prep.refills}" if prep.refills else "No refills",
        "fill": fill_text(job),
        "cautions": ["For external use only.", "Keep out of reach of children.", "Compounded preparation."],
    }


def label_missing(label: dict) -> list[str]:
    return [name for key, name in (("beyond_use_date", "the beyond-use date"), ("storage_line", "the storage line"),
                                   ("patient_name", "the patient's name"), ("rx_number", "the Rx number")) if not label.get(key)]


def worksheet_pdf(job: Job, version: int) -> bytes:
    pdf, _refused = render_pdf(render_to_string("fulfillment/worksheet_pdf.html", worksheet_context(job, version)))
    return pdf


def label_pdf(job: Job) -> bytes:
    return labels_pdf([job])


def labels_pdf(jobs: list[Job]) -> bytes:
    """One label per page: a job's own, or every label of a package in one PDF to print at once."""
    pdf, _refused = render_pdf(render_to_string("fulfillment/label_pdf.html", {"labels": [label_context(job) for job in jobs]}))
    return pdf
