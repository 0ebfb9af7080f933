"""What a master formulation record says, built from the formulary and the rules engine's answer for one preparation.

Plain data in (the preparation as ordered, the engine's answer as the order keeps it, the rules version), plain data
out: the formulation's identity (what two preparations must share to be the same recipe) and every field of
USP <795> 7.2. The record states the formula per 100 g (or mL); the quantity scales and is not part of it."""

from __future__ import annotations

import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal

from formulary.compounding import CONTAINERS, VEHICLE_STEPS, added_late, equipment_line
from formulary.models import Base, Material
from formulary.routes import DEFAULT_ROUTE

# The engine's storage lines (orders.rules.engine.STORAGE_TEXT), for an answer kept before it carried them.
STORAGE_TEXT = {"refrigerate": "Store in a refrigerator, 2–8 °C", "room_or_refrigerate": "Store at 20–25 °C or in a refrigerator"}
YIELD_EXPECTED = "95–105 % of the theoretical batch weight"
FILL_EXPECTED = "100–105 % of the dispensed quantity"
CAUTIONS = ("For external use only.", "Keep out of reach of children.", "Compounded preparation.")


def _pct(value) -> str:
    """A percent as people write it: 4, 0.5, 0.0015 (no trailing zeros)."""
    text = f"{Decimal(str(value)).normalize():f}"
    return text


def identity_of(*, base: str, route: str, target_ph, unit: str, materials: list[tuple[str, object]]) -> dict:
    """What makes two preparations the same formulation (never the quantity)."""
    ph = None if target_ph is None else f"{Decimal(str(target_ph)).quantize(Decimal('0.01'))}"
    return {"base": base, "route": route or DEFAULT_ROUTE, "target_ph": ph, "unit": unit,
            "materials": sorted([code, _pct(percent)] for code, percent in materials)}


def formulation_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def bud_source(*, aqueous: bool, preserved: bool, days: int, rules_version: str) -> str:
    if not aqueous:
        row = "nonaqueous (every form but oral liquids): 180 days, 20–25 °C or refrigerator"
    elif preserved:
        row = "aqueous, preserved: 35 days, 20–25 °C or refrigerator"
    else:
        row = "aqueous, nonpreserved: 14 days, refrigerator 2–8 °C"
    return (f"USP <795> (2023) beyond-use table without a stability study, row {row}; applied as {days} days by the rules "
            f"engine (its rule “Beyond-use date and storage”; {rules_version}). Capped at compounding by the "
            "earliest expiry of the lots used.")


def _material_characteristics(material: Material, *, unit: str) -> str:
    parts = [material.get_physical_form_display().lower()]
    if material.active_fraction < 1 and material.active_substance_id:
        parts.append(f"supplied as {_pct(material.active_fraction * 100)} % {material.active_substance.inci}; "
                     "the strength is of that substance")
    composition = ", ".join(f"{c.substance.inci} {_pct(c.percent)} %" for c in material.components.all())
    if composition:
        parts.append(f"composition: {composition}")
    if material.viability:
        parts.append(material.get_viability_display().lower())
    if unit == "mL":
        parts.append(f"strength {material.get_strength_basis_display()}")
    if material.density_g_per_ml:
        parts.append(f"density {_pct(material.density_g_per_ml)} g/mL")
    if material.storage == "refrigerate":
        parts.append("keep refrigerated")
    return "; ".join(parts)


def _base_characteristics(base: Base) -> str:
    composition = ", ".join(f"{c.substance.inci} {_pct(c.percent)} %" for c in base.components.all())
    parts = [f"{base.vehicle_display.lower()} vehicle, {base.get_application_display().lower()}"]
    if composition:
        parts.append(f"composition: {composition}")
    if base.density_g_per_ml:
        parts.append(f"density {_pct(base.density_g_per_ml)} g/mL")
    return "; ".join(parts)


GRADE = "Supplier grade as on its certificate of analysis; each lot released by a pharmacist before use"


def mfr_content(*, identity: dict, checked: dict, rules_version: str, quantity) -> dict:
    """Every field of <795> 7.2 for this formulation. `checked` is the engine's answer (orders.validation.result_as_json);
    `quantity` the dispensed quantity it was checked with (only to state the overage the batch carried)."""
    base = Base.objects.prefetch_related("components__substance").get(code=identity["base"])
    codes = [code for code, _pct_ in identity["materials"]]
    materials = {m.code: m for m in Material.objects.filter(code__in=codes).select_related("active_substance")
                 .prefetch_related("components__substance")}
    unit = identity["unit"]
    shares = {line["ingredient"]: line["share_percent"] for line in checked.get("ingredients", [])}
    percent_of = dict((code, pct) for code, pct in identity["materials"])
    ordered = [code for code in codes if not added_late(name=materials[code].name, category=materials[code].category)]
    ordered += [code for code in codes if code not in ordered]
    batch = checked.get("batch") or {}
    mwq = Decimal(str(batch.get("minimum_weighable_g") or "0.12"))

    components, per_100 = [], []
    base_share = Decimal(str(checked.get("base_percent") or 0))
    components.append({
        "code": base.code, "name": base.name, "kind": "base", "role": "vehicle (the rest of the batch)",
        "strength": "", "amount_per_100": f"{base_share.quantize(Decimal('0.001'))} g", "characteristics": _base_characteristics(base),
        "grade": GRADE,
    })
    for code in ordered:
        material = materials[code]
        share = Decimal(str(shares.get(code, percent_of[code])))
        basis = material.get_strength_basis_display() if unit == "mL" else "% w/w"
        components.append({
            "code": code, "name": material.name, "kind": "material", "role": material.get_category_display().lower(),
            "strength": f"{percent_of[code]} {basis.split(' (')[0]}", "amount_per_100": f"{share.quantize(Decimal('0.001'))} g",
            "characteristics": _material_characteristics(material, unit=unit), "grade": GRADE,
            "added_late": added_late(name=material.name, category=material.category),
        })
        direct_from = (mwq * 100 / share).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if share else None
        per_100.append({"name": material.name, "grams_per_100": f"{share.quantize(Decimal('0.001'))}",
                        "weighed_directly_from": f"{direct_from} g batch" if direct_from is not None else ""})
    quantity = Decimal(str(quantity))
    batch_amount = Decimal(str(batch.get("volume") if batch.get("volume") is not None else batch.get("quantity") or quantity))
    overage = ((batch_amount / quantity - 1) * 100).quantize(Decimal("0.1")) if quantity else Decimal(0)

    strength = "; ".join(f"{materials[code].name} {percent_of[code]} %" for code in ordered) or "Base only: no added materials"
    name = base.name + (" with " + ", ".join(f"{materials[code].name} {percent_of[code]} %" for code in ordered) if ordered else "")
    vehicle = base.vehicle
    late = [materials[code].name for code in ordered if added_late(name=materials[code].name, category=materials[code].category)]
    addition = [base.name] + [materials[code].name + (" (last, below 40 °C)" if materials[code].name in late else "") for code in ordered]
    steps = list(VEHICLE_STEPS.get(vehicle, ["Weigh the base.", "Add each material in the order listed.", "Mix until uniform."]))
    steps.insert(1, "Order of addition: " + "; ".join(addition) + ".")
    steps.insert(1, f"Weigh each material to the balance's readability (0.01 g), ±5 % per weighing; any weighing below {mwq} g "
                    "is made as an aliquot (see calculations).")
    steps.append(f"Fill into the container ({CONTAINERS.get(vehicle, 'see container').rstrip('.')}); weigh the fill; label; record QC.")
    aqueous = bool(checked.get("aqueous"))
    target_ph = identity.get("target_ph")
    appearance = f"Smooth, uniform {base.name.lower()}; no separation, grit or colour change."
    qc = []
    if aqueous and target_ph is not None:
        ph = Decimal(target_ph)
        qc.append({"test": "pH", "method": "Calibrated pH meter, directly in the preparation at 20–25 °C",
                   "expected": f"{ph - Decimal('0.5')}–{ph + Decimal('0.5')} (target {ph})"})
    qc += [
        {"test": "Appearance", "method": "Visual, against white and black backgrounds", "expected": appearance},
        {"test": "Fill weight", "method": "Net weight on the Class A balance", "expected": FILL_EXPECTED},
        {"test": "Yield", "method": "Actual batch weight / theoretical batch weight", "expected": YIELD_EXPECTED},
    ]
    storage = checked.get("storage") or ""
    days = checked.get("beyond_use_days")
    return {
        "name": name[:400],
        "strength": strength,
        "dosage_form": f"{base.vehicle_display} ({base.get_application_display().lower()})",
        "route": identity["route"],
        "target_ph": target_ph,
        "quantity_unit": unit,
        "ingredient_codes": " " + " ".join([base.code, *codes]) + " ",
        "components": components,
        "container_closure": CONTAINERS.get(vehicle, ""),
        "equipment": equipment_line(vehicle),
        "steps": steps,
        "calculations": {
            "overage_percent": f"{overage}",
            "batch": f"Batch = dispensed quantity × (1 + {overage} % overage)"
                     + (f" × density {batch.get('density')} g/mL, weighed in grams" if batch.get("density") and unit == "mL" else "")
                     + "; each material = its share × batch / 100; the base is weighed as the remainder.",
            "minimum_weighable_g": f"{mwq}",
            "aliquot": (f"A weighing below {mwq} g (Class A balance, sensitivity 6 mg, 5 % maximum error) is made as an aliquot: "
                        "weigh 10 (or 100) × the amount, make up to 10 (or 100) × the minimum weighable quantity with the base, mix, "
                        "and take the minimum weighable quantity of the mixture into the batch."),
            "per_100": per_100,
        },
        "physical_description": appearance,
        "beyond_use_days": days,
        "storage": storage,
        "storage_text": checked.get("storage_text") or STORAGE_TEXT.get(storage, ""),
        "bud_source": bud_source(aqueous=aqueous, preserved=bool(checked.get("preserved")), days=days or 0, rules_version=rules_version),
        "labelling": ("Patient name; preparation name with each material's strength; directions; quantity; beyond-use date; "
                      f"storage line (“{STORAGE_TEXT.get(storage, '')}”); Rx number and fill; prescriber; pharmacy name, address "
                      "and phone; " + " ".join(CAUTIONS)),
        "qc": qc,
        "rules_version": rules_version,
    }


# The fields a pharmacist must see filled before approving, in the order the record prints them.
REQUIRED = (
    ("name", "the name"), ("strength", "the strength"), ("dosage_form", "the dosage form"), ("route", "the route"),
    ("components", "the components"), ("container_closure", "the container and closure"), ("equipment", "the equipment"),
    ("steps", "the compounding steps"), ("calculations", "the calculations"), ("physical_description", "the physical description"),
    ("beyond_use_days", "the beyond-use period"), ("storage", "the storage"), ("bud_source", "the source of the beyond-use date"),
    ("labelling", "the labelling requirements"), ("qc", "the quality control procedures"), ("rules_version", "the rules version"),
)


def missing_fields(record) -> dict[str, str]:
    """{field: what is missing, in words} for a record (or anything with the same attributes)."""
    missing = {}
    for field, words in REQUIRED:
        value = getattr(record, field)
        if value in (None, "", [], {}) or (isinstance(value, str) and not value.strip()):
            missing[field] = words
    for index, component in enumerate(record.components or []):
        for key, words in (("name", "name"), ("amount_per_100", "amount"), ("characteristics", "characteristics"), ("grade", "grade")):
            if not str(component.get(key) or "").strip():
                missing[f"components[{index}].{key}"] = f"the {words} of {component.get('name') or f'component {index + 1}'}"
    for index, test in enumerate(record.qc or []):
        if not str(test.get("expected") or "").strip():
            missing[f"qc[{index}].expected"] = f"the expected result of {test.get('test') or f'test {index + 1}'}"
    return missing
