"""Import and export of the formulary in the shape of `formulary.json`, exact in both directions.

`formulary_validate` checks a whole file first and reports every problem with the item and
field it concerns; `formulary_import` writes nothing unless the whole file is valid, and writes
everything in one transaction. Import never deletes: it adds and updates by code, and withdraws
(deactivates) materials and bases that the file no longer lists, since orders may refer to them.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from django.db import transaction

from formulary.models import (
    DENSITY_MAX,
    AllergenGroup,
    AllergenLink,
    Antimicrobial,
    Application,
    Base,
    BaseComponent,
    Category,
    EuSumGroup,
    FormularyState,
    Incompatibility,
    Material,
    MaterialComponent,
    PhysicalForm,
    Storage,
    StrengthBasis,
    Substance,
    SubstanceAllergen,
    Unit,
    Viability,
)
from portal.errors import ServiceError

HUNDRED = Decimal(100)
# Compositions are stated to four decimals; their sum may differ from 100 by rounding only.
SUM_TOLERANCE = Decimal("0.0001")
_ALLERGEN_FIELDS = {
    "allergen_groups": AllergenLink.CARRIES,
    "disputed_allergen_groups": AllergenLink.DISPUTED,
    "origin_unknown_groups": AllergenLink.ORIGIN_UNKNOWN,
}


class FormularyImportError(ServiceError):
    code = "formulary_invalid"

    def __init__(self, problems: list[dict]):
        self.problems = problems
        shown = "; ".join(f"{p['item']}: {p['field']}: {p['message']}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"The formulary file has {len(problems)} problem(s): {shown}{more}", fields={"problems": problems})


class _Checker:
    """Collects problems instead of stopping at the first, so a file can be fixed in one go."""

    def __init__(self):
        self.problems: list[dict] = []

    def problem(self, item: str, field: str, message: str) -> None:
        self.problems.append({"item": item, "field": field, "message": message})

    def decimal(self, obj: dict, item: str, field: str, *, required: bool = True, low=None, high=None, label=None):
        label = label or field
        if field not in obj:
            self.problem(item, label, "is missing")
            return None
        raw = obj[field]
        if raw is None:
            if required:
                self.problem(item, label, "is required")
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (isinstance(raw, float) and not math.isfinite(raw)):
            self.problem(item, label, f"must be a number, not {raw!r}")
            return None
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            self.problem(item, label, f"must be a number, not {raw!r}")
            return None
        if low is not None and value < low or high is not None and value > high:
            self.problem(item, label, f"{raw} is outside {low}–{high}")
            return None
        return value

    def text(self, obj: dict, item: str, field: str, *, required: bool = True, choices=None) -> str:
        raw = obj.get(field, None)
        if raw is None or raw == "":
            if required:
                self.problem(item, field, "is required")
            return ""
        if not isinstance(raw, str):
            self.problem(item, field, f"must be text, not {raw!r}")
            return ""
        if choices is not None and raw not in choices:
            self.problem(item, field, f"{raw!r} is not one of {', '.join(sorted(choices))}")
            return ""
        return raw

    def boolean(self, obj: dict, item: str, field: str) -> bool:
        raw = obj.get(field, False)
        if not isinstance(raw, bool):
            self.problem(item, field, f"must be true or false, not {raw!r}")
            return False
        return raw

    def density(self, obj: dict, item: str) -> tuple[Decimal | None, str]:
        """A density in g/mL at 20–25 °C (above 0, at most 3) and the source it comes from."""
        raw = obj.get("density_g_per_ml")
        source = obj.get("density_source") or ""
        if not isinstance(source, str):
            self.problem(item, "density_source", f"must be text, not {source!r}")
            source = ""
        if raw is None:
            return None, source
        value = self.decimal(obj, item, "density_g_per_ml", required=False)
        if value is None:
            return None, source
        if not (Decimal(0) < value <= DENSITY_MAX):
            self.problem(item, "density_g_per_ml", f"{raw} g/mL is not a density: it must be above 0 and at most {DENSITY_MAX} g/mL")
            return None, source
        if value.as_tuple().exponent < -4:
            self.problem(item, "density_g_per_ml", f"{raw} has more than four decimals")
            return None, source
        if not source.strip():
            self.problem(item, "density_source", "name where the density comes from (a supplier data sheet or a standard reference)")
        return value, source.strip()

    def code_list(self, obj: dict, item: str, field: str, known: set[str]) -> list[str]:
        raw = obj.get(field, [])
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            self.problem(item, field, "must be a list of codes")
            return []
        for code in raw:
            if code not in known:
                self.problem(item, field, f"unknown code {code!r}")
        return [c for c in raw if c in known]

    def composition(self, obj: dict, item: str, substances: set[str]) -> list[tuple[str, Decimal]]:
        raw = obj.get("composition")
        if not isinstance(raw, list) or not raw:
            self.problem(item, "composition", "must be a non-empty list of {substance, percent}")
            return []
        rows, seen, total, ok = [], set(), Decimal(0), True
        for index, part in enumerate(raw):
            where = f"composition[{index}]"
            if not isinstance(part, dict):
                self.problem(item, where, "must be {substance, percent}")
                ok = False
                continue
            code = part.get("substance")
            if code not in substances:
                self.problem(item, f"{where}.substance", f"unknown substance {code!r}")
                ok = False
            elif code in seen:
                self.problem(item, f"{where}.substance", f"{code!r} is listed twice")
                ok = False
            percent = self.decimal(part, item, "percent", label=f"{where}.percent")
            if percent is not None and not (Decimal(0) < percent <= HUNDRED):
                self.problem(item, f"{where}.percent", f"{part['percent']} must be above 0 and at most 100")
                ok = False
            if percent is None:
                ok = False
                continue
            seen.add(code)
            total += percent
            rows.append((code, percent))
        if ok and abs(total - HUNDRED) > SUM_TOLERANCE:
            self.problem(item, "composition", f"sums to {total} %, not 100 %")
        return rows


def _name(kind: str, index: int, obj) -> str:
    code = obj.get("code") if isinstance(obj, dict) else None
    return f"{kind}[{index}] {code}" if code else f"{kind}[{index}]"


def formulary_validate(data) -> dict:
    """Check a whole formulary file. Returns it normalised (Decimals); raises with every problem.
    Each part in turn, in the order its problems are listed; a part may use what an earlier one found."""
    check = _Checker()
    _top_level_check(check, data)
    vehicle_kinds = _vehicle_kinds(check, data["vehicles"])
    _routes_check(check, data["routes"])
    out: dict = {"version": str(data["version"]), "about": data.get("about", ""), "vehicles": data["vehicles"], "routes": data["routes"]}
    out["allergen_groups"] = _allergen_groups(check, data["allergen_groups"])
    out["eu_sum_group_limits"] = _eu_sum_group_limits(check, data.get("eu_sum_group_limits", {}))
    group_codes = {g["code"] for g in out["allergen_groups"]}
    out["substances"] = _substances(check, data["substances"], group_codes, out["eu_sum_group_limits"])
    substance_codes = {s["code"] for s in out["substances"]}
    out["materials"] = _materials(check, data["materials"], substance_codes, vehicle_kinds)
    out["bases"] = _bases(check, data["bases"], substance_codes, vehicle_kinds)
    out["incompatibilities"] = _incompatibilities(check, data.get("incompatibilities", []), {m["code"] for m in out["materials"]})
    if check.problems:
        raise FormularyImportError(check.problems)
    return out


def _top_level_check(check: _Checker, data) -> None:
    """A JSON object with every top-level key; anything else stops here, with what is missing."""
    if not isinstance(data, dict):
        raise FormularyImportError([{"item": "file", "field": "(top level)", "message": "must be a JSON object"}])
    for key in ("version", "vehicles", "routes", "allergen_groups", "substances", "materials", "bases"):
        if key not in data:
            check.problem("file", key, "is missing")
    if check.problems:
        raise FormularyImportError(check.problems)


def _vehicle_kinds(check: _Checker, vehicles) -> set[str]:
    if not isinstance(vehicles, dict) or not all(isinstance(vehicles.get(k), list) for k in ("aqueous_kinds", "anhydrous_kinds")):
        check.problem("file", "vehicles", "must hold the lists aqueous_kinds and anhydrous_kinds")
        return set()
    return set(vehicles["aqueous_kinds"]) | set(vehicles["anhydrous_kinds"])


def _routes_check(check: _Checker, routes) -> None:
    if not isinstance(routes, dict) or not all(isinstance(routes.get(k), list) for k in ("non_sterile", "sterile_out_of_scope")):
        check.problem("file", "routes", "must hold the lists non_sterile and sterile_out_of_scope")


def _unique_codes(check: _Checker, kind: str, items) -> list[dict]:
    """The objects of a list that have a code not seen before; the others are problems."""
    if not isinstance(items, list):
        check.problem("file", kind, "must be a list")
        return []
    seen, result = set(), []
    for index, obj in enumerate(items):
        if not isinstance(obj, dict):
            check.problem(f"{kind}[{index}]", "(item)", "must be an object")
            continue
        code = obj.get("code")
        if not isinstance(code, str) or not code.strip():
            check.problem(_name(kind, index, obj), "code", "is required")
            continue
        if code in seen:
            check.problem(_name(kind, index, obj), "code", f"{code!r} appears twice")
            continue
        seen.add(code)
        result.append(obj)
    return result


def _allergen_groups(check: _Checker, raw) -> list[dict]:
    groups = _unique_codes(check, "allergen_groups", raw)
    return [
        {"code": g["code"], "name": check.text(g, _name("allergen_groups", i, g), "name"), "description": g.get("description", "")}
        for i, g in enumerate(groups)
    ]


def _eu_sum_group_limits(check: _Checker, raw) -> dict:
    limits_by_group: dict = {}
    if not isinstance(raw, dict):
        check.problem("file", "eu_sum_group_limits", "must be an object keyed by group code")
        return limits_by_group
    for code, limits in raw.items():
        item = f"eu_sum_group_limits.{code}"
        if not isinstance(limits, dict):
            check.problem(item, "(item)", "must be an object")
            continue
        limits_by_group[code] = {
            "eu_leave_on_max_percent": check.decimal(limits, item, "eu_leave_on_max_percent", required=False, low=0, high=100),
            "eu_rinse_off_max_percent": check.decimal(limits, item, "eu_rinse_off_max_percent", required=False, low=0, high=100),
        }
    return limits_by_group


def _substances(check: _Checker, raw, group_codes: set[str], sum_groups: dict) -> list[dict]:
    rows = []
    for i, s in enumerate(_unique_codes(check, "substances", raw)):
        item = _name("substances", i, s)
        row = {
            "code": s["code"],
            "inci": check.text(s, item, "inci"),
            "is_water": check.boolean(s, item, "is_water"),
            "antimicrobial": check.text(s, item, "antimicrobial", required=False, choices=set(Antimicrobial.values)),
            "eu_leave_on_banned": check.boolean(s, item, "eu_leave_on_banned"),
            "notes": s.get("notes") or "",
        }
        for field in _ALLERGEN_FIELDS:
            row[field] = check.code_list(s, item, field, group_codes)
        for field, (low, high) in {
            "preservative_min_percent": (0, 100),
            "preservative_ph_min": (0, 14),
            "preservative_ph_max": (0, 14),
            "eu_leave_on_max_percent": (0, 100),
            "eu_rinse_off_max_percent": (0, 100),
            "eu_limit_as_acid_factor": (0, 1),
        }.items():
            row[field] = check.decimal(s, item, field, required=False, low=low, high=high)
        sum_group = s.get("eu_limit_sum_group")
        if sum_group is not None and sum_group not in sum_groups:
            check.problem(item, "eu_limit_sum_group", f"unknown sum group {sum_group!r}")
        row["eu_limit_sum_group"] = sum_group
        row["eu_limit_source"] = s.get("eu_limit_source") or ""
        if not isinstance(row["eu_limit_source"], str):
            check.problem(item, "eu_limit_source", "must be text")
            row["eu_limit_source"] = ""
        if row["antimicrobial"] == Antimicrobial.QUALIFYING and row["preservative_min_percent"] is None:
            check.problem(item, "preservative_min_percent", "a qualifying preservative needs its minimum level")
        rows.append(row)
    return rows


def _otc_range(check: _Checker, m: dict, item: str, field: str):
    rng = m.get(field)
    if rng is None:
        return None
    if (
        isinstance(rng, list)
        and len(rng) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
        and rng[0] <= rng[1]
    ):
        return (Decimal(str(rng[0])), Decimal(str(rng[1])))
    check.problem(item, field, "must be null or [min, max] with min ≤ max")
    return None


def _materials(check: _Checker, raw, substance_codes: set[str], vehicle_kinds: set[str]) -> list[dict]:
    rows = []
    for i, m in enumerate(_unique_codes(check, "materials", raw)):
        item = _name("materials", i, m)
        row = {
            "code": m["code"],
            "name": check.text(m, item, "name"),
            "category": check.text(m, item, "category", choices=set(Category.values)),
            "composition": check.composition(m, item, substance_codes),
            "use_min_percent": check.decimal(m, item, "use_min_percent", low=0, high=100),
            "use_max_percent": check.decimal(m, item, "use_max_percent", low=0, high=100),
            "vehicles": check.code_list(m, item, "vehicles", vehicle_kinds),
            "ph_min": check.decimal(m, item, "ph_min", required=False, low=0, high=14),
            "ph_max": check.decimal(m, item, "ph_max", required=False, low=0, high=14),
            "viability": check.text(m, item, "viability", required=False, choices=set(Viability.values)),
            "investigational": check.boolean(m, item, "investigational"),
            "rx_only": check.boolean(m, item, "rx_only"),
            "rx_threshold_percent": check.decimal(m, item, "rx_threshold_percent", required=False, low=0, high=100),
            "active_fraction": check.decimal(m, item, "active_fraction", low=0, high=1),
            "storage": check.text(m, item, "storage", choices=set(Storage.values)),
            "cfu_per_g": m.get("cfu_per_g"),
            "physical_form": check.text(m, item, "physical_form", required=False, choices=set(PhysicalForm.values)) or PhysicalForm.SOLID,
            "strength_basis": check.text(m, item, "strength_basis", required=False, choices=set(StrengthBasis.values)) or StrengthBasis.WW,
            "notes": m.get("notes") or "",
        }
        row["density_g_per_ml"], row["density_source"] = check.density(m, item)
        if row["strength_basis"] == StrengthBasis.VV:
            if row["physical_form"] != PhysicalForm.LIQUID:
                check.problem(item, "strength_basis", f"% v/v is only for liquids; {m['code']} is a {row['physical_form']}: "
                              "declare it % w/w or % w/v")
            elif row["density_g_per_ml"] is None:
                check.problem(item, "density_g_per_ml", "a material measured % v/v needs its density (g/mL at 20–25 °C)")
        for field in ("otc_leave_on_range", "otc_rinse_off_range"):
            row[field] = _otc_range(check, m, item, field)
        active = m.get("active_substance")
        if active is not None and active not in substance_codes:
            check.problem(item, "active_substance", f"unknown substance {active!r}")
        row["active_substance"] = active
        if row["use_min_percent"] is not None and row["use_max_percent"] is not None and row["use_min_percent"] > row["use_max_percent"]:
            check.problem(item, "use_min_percent", "is above use_max_percent")
        if row["active_fraction"] is not None and row["active_fraction"] == 0:
            check.problem(item, "active_fraction", "must be above 0")
        if row["cfu_per_g"] is not None and (isinstance(row["cfu_per_g"], bool) or not isinstance(row["cfu_per_g"], (int, float)) or row["cfu_per_g"] < 0):
            check.problem(item, "cfu_per_g", "must be null or a non-negative number")
        rows.append(row)
    return rows


def _bases(check: _Checker, raw, substance_codes: set[str], vehicle_kinds: set[str]) -> list[dict]:
    rows = []
    for i, b in enumerate(_unique_codes(check, "bases", raw)):
        item = _name("bases", i, b)
        row = {
            "code": b["code"],
            "name": check.text(b, item, "name"),
            "vehicle": check.text(b, item, "vehicle", choices=vehicle_kinds or None),
            "application": check.text(b, item, "application", choices=set(Application.values)),
            "composition": check.composition(b, item, substance_codes),
            "default_ph": check.decimal(b, item, "default_ph", required=False, low=0, high=14),
            "ph_min": check.decimal(b, item, "ph_min", required=False, low=0, high=14),
            "ph_max": check.decimal(b, item, "ph_max", required=False, low=0, high=14),
            "min_quantity": check.decimal(b, item, "min_quantity", low=Decimal("0.001")),
            "max_quantity": check.decimal(b, item, "max_quantity", low=Decimal("0.001")),
            "unit": check.text(b, item, "unit", choices=set(Unit.values)),
            "notes": b.get("notes") or "",
        }
        row["density_g_per_ml"], row["density_source"] = check.density(b, item)
        if row["unit"] == Unit.MILLILITRE and row["density_g_per_ml"] is None and "density_g_per_ml" not in {
                p["field"] for p in check.problems if p["item"] == item}:
            check.problem(item, "density_g_per_ml", "is required for a base made in mL: its density in g/mL at 20–25 °C, "
                          "so the batch can be weighed in grams")
        if row["min_quantity"] is not None and row["max_quantity"] is not None and row["min_quantity"] > row["max_quantity"]:
            check.problem(item, "min_quantity", "is above max_quantity")
        rows.append(row)
    return rows


def _incompatibilities(check: _Checker, raw, material_codes: set[str]) -> list[dict]:
    rows: list[dict] = []
    if not isinstance(raw, list):
        check.problem("file", "incompatibilities", "must be a list")
        return rows
    for i, pair in enumerate(raw):
        item = f"incompatibilities[{i}]"
        if not isinstance(pair, dict):
            check.problem(item, "(item)", "must be {a, b, reason}")
            continue
        for side in ("a", "b"):
            if pair.get(side) not in material_codes:
                check.problem(item, side, f"unknown material {pair.get(side)!r}")
        if pair.get("a") == pair.get("b"):
            check.problem(item, "b", "a material cannot be incompatible with itself")
        rows.append({"a": pair.get("a"), "b": pair.get("b"), "reason": check.text(pair, item, "reason")})
    return rows


@transaction.atomic
def formulary_import(*, data) -> FormularyState:
    """Validate, then write the whole formulary in one transaction. Bumps the formulary revision."""
    clean = formulary_validate(data)
    before = formulary_export()

    groups = {}
    for position, g in enumerate(clean["allergen_groups"]):
        groups[g["code"]], _ = AllergenGroup.objects.update_or_create(
            code=g["code"], defaults={"name": g["name"], "description": g["description"], "position": position}
        )
    sum_groups = {}
    for position, (code, limits) in enumerate(clean["eu_sum_group_limits"].items()):
        sum_groups[code], _ = EuSumGroup.objects.update_or_create(code=code, defaults={**limits, "position": position})

    substances = {}
    for position, s in enumerate(clean["substances"]):
        fields = {k: v for k, v in s.items() if k not in ("code", *_ALLERGEN_FIELDS, "eu_limit_sum_group")}
        fields["eu_limit_sum_group"] = sum_groups.get(s["eu_limit_sum_group"])
        substances[s["code"]], _ = Substance.objects.update_or_create(code=s["code"], defaults={**fields, "position": position})
    SubstanceAllergen.objects.filter(substance__in=substances.values()).delete()
    SubstanceAllergen.objects.bulk_create(
        SubstanceAllergen(substance=substances[s["code"]], group=groups[code], link=link, position=pos)
        for s in clean["substances"]
        for field, link in _ALLERGEN_FIELDS.items()
        for pos, code in enumerate(s[field])
    )

    materials = {}
    for position, m in enumerate(clean["materials"]):
        fields = {k: v for k, v in m.items() if k not in ("code", "composition", "otc_leave_on_range", "otc_rinse_off_range", "active_substance")}
        for field, prefix in (("otc_leave_on_range", "otc_leave_on"), ("otc_rinse_off_range", "otc_rinse_off")):
            low, high = m[field] or (None, None)
            fields[f"{prefix}_min_percent"], fields[f"{prefix}_max_percent"] = low, high
        fields["active_substance"] = substances.get(m["active_substance"])
        materials[m["code"]], _ = Material.objects.update_or_create(
            code=m["code"], defaults={**fields, "position": position, "is_active": True}
        )
    Material.objects.exclude(code__in=materials).update(is_active=False)
    MaterialComponent.objects.filter(material__in=materials.values()).delete()
    MaterialComponent.objects.bulk_create(
        MaterialComponent(material=materials[m["code"]], substance=substances[code], percent=pct, position=pos)
        for m in clean["materials"]
        for pos, (code, pct) in enumerate(m["composition"])
    )

    bases = {}
    for position, b in enumerate(clean["bases"]):
        fields = {k: v for k, v in b.items() if k not in ("code", "composition")}
        bases[b["code"]], _ = Base.objects.update_or_create(code=b["code"], defaults={**fields, "position": position, "is_active": True})
    Base.objects.exclude(code__in=bases).update(is_active=False)
    BaseComponent.objects.filter(base__in=bases.values()).delete()
    BaseComponent.objects.bulk_create(
        BaseComponent(base=bases[b["code"]], substance=substances[code], percent=pct, position=pos)
        for b in clean["bases"]
        for pos, (code, pct) in enumerate(b["composition"])
    )

    Incompatibility.objects.all().delete()
    Incompatibility.objects.bulk_create(
        Incompatibility(material_a=materials[p["a"]], material_b=materials[p["b"]], reason=p["reason"], position=pos)
        for pos, p in enumerate(clean["incompatibilities"])
    )

    _flag_changed_items(before, formulary_export())
    state = FormularyState.objects.select_for_update().first()
    meta = {"version": clean["version"], "about": clean["about"], "vehicles": clean["vehicles"], "routes": clean["routes"]}
    if state is None:
        return FormularyState.objects.create(**meta)
    for key, value in meta.items():
        setattr(state, key, value)
    state.revision += 1
    state.save()
    return state


def _flag_changed_items(before: dict, after: dict) -> int:
    """Master formulation records using a material or base the import changed (or whose substances it changed) are
    flagged for review."""
    from formulary.mfrs import mfrs_flag_for_review

    changed_substances = {s["code"] for s in after["substances"]} ^ {s["code"] for s in before["substances"]}
    old_substances = {s["code"]: s for s in before["substances"]}
    changed_substances |= {s["code"] for s in after["substances"] if old_substances.get(s["code"]) != s}
    codes = []
    for kind in ("materials", "bases"):
        old = {item["code"]: item for item in before[kind]}
        for item in after[kind]:
            uses = {entry["substance"] if isinstance(entry, dict) else entry[0] for entry in item.get("composition", [])}
            if old.get(item["code"]) != item or uses & changed_substances:
                codes.append(item["code"])
    if not codes:
        return 0
    return mfrs_flag_for_review(item_codes=codes, reason="The formulary import changed "
                                + ", ".join(codes[:10]) + (" and more" if len(codes) > 10 else "")
                                + ": check the components, calculations and beyond-use date still hold.")


def _num(value):
    """Decimals back to JSON numbers: floats, as the file states percentages and pH."""
    return None if value is None else float(value)


def _qty(value):
    return int(value) if value == value.to_integral_value() else float(value)


def formulary_export() -> dict:
    """The formulary as `formulary.json` holds it: active materials and bases, in file order."""
    state = FormularyState.objects.first()
    links: dict[int, dict[str, list[str]]] = {}
    for link in SubstanceAllergen.objects.select_related("group").order_by("substance_id", "link", "position"):
        links.setdefault(link.substance_id, {}).setdefault(link.link, []).append(link.group.code)
    sum_groups = {g.pk: g.code for g in EuSumGroup.objects.all()}
    substance_codes = dict(Substance.objects.values_list("pk", "code"))

    out = {
        "about": state.about if state else "",
        "version": state.version if state else "",
        "vehicles": state.vehicles if state else {"aqueous_kinds": [], "anhydrous_kinds": []},
        "routes": state.routes if state else {"non_sterile": [], "sterile_out_of_scope": []},
        "allergen_groups": [
            {"code": g.code, "name": g.name, "description": g.description} for g in AllergenGroup.objects.all()
        ],
        "substances": [],
        "eu_sum_group_limits": {
            g.code: {"eu_leave_on_max_percent": _num(g.eu_leave_on_max_percent), "eu_rinse_off_max_percent": _num(g.eu_rinse_off_max_percent)}
            for g in EuSumGroup.objects.all()
        },
        "materials": [],
        "bases": [],
        "incompatibilities": [
            {"a": i.material_a.code, "b": i.material_b.code, "reason": i.reason}
            for i in Incompatibility.objects.select_related("material_a", "material_b")
        ],
    }
    for s in Substance.objects.all():
        own = links.get(s.pk, {})
        out["substances"].append(
            {
                "code": s.code,
                "inci": s.inci,
                "allergen_groups": own.get(AllergenLink.CARRIES, []),
                "disputed_allergen_groups": own.get(AllergenLink.DISPUTED, []),
                "origin_unknown_groups": own.get(AllergenLink.ORIGIN_UNKNOWN, []),
                "is_water": s.is_water,
                "antimicrobial": s.antimicrobial or None,
                "preservative_min_percent": _num(s.preservative_min_percent),
                "preservative_ph_min": _num(s.preservative_ph_min),
                "preservative_ph_max": _num(s.preservative_ph_max),
                "eu_leave_on_max_percent": _num(s.eu_leave_on_max_percent),
                "eu_rinse_off_max_percent": _num(s.eu_rinse_off_max_percent),
                "eu_leave_on_banned": s.eu_leave_on_banned,
                "eu_limit_as_acid_factor": _num(s.eu_limit_as_acid_factor),
                "eu_limit_sum_group": sum_groups.get(s.eu_limit_sum_group_id),
                "eu_limit_source": s.eu_limit_source or None,
                "notes": s.notes,
            }
        )
    for m in Material.objects.active().prefetch_related("components"):
        out["materials"].append(
            {
                "code": m.code,
                "name": m.name,
                "category": m.category,
                "composition": [{"substance": substance_codes[c.substance_id], "percent": _num(c.percent)} for c in m.components.all()],
                "use_min_percent": _num(m.use_min_percent),
                "use_max_percent": _num(m.use_max_percent),
                "vehicles": m.vehicles,
                "ph_min": _num(m.ph_min),
                "ph_max": _num(m.ph_max),
                "viability": m.viability or None,
                "investigational": m.investigational,
                "rx_only": m.rx_only,
                "rx_threshold_percent": _num(m.rx_threshold_percent),
                "otc_leave_on_range": None if m.otc_leave_on_min_percent is None else [_num(m.otc_leave_on_min_percent), _num(m.otc_leave_on_max_percent)],
                "otc_rinse_off_range": None if m.otc_rinse_off_min_percent is None else [_num(m.otc_rinse_off_min_percent), _num(m.otc_rinse_off_max_percent)],
                "active_substance": substance_codes.get(m.active_substance_id),
                "active_fraction": _num(m.active_fraction),
                "storage": m.storage,
                "cfu_per_g": m.cfu_per_g,
                "physical_form": m.physical_form,
                "strength_basis": m.strength_basis,
                "density_g_per_ml": _num(m.density_g_per_ml),
                "density_source": m.density_source or None,
                "notes": m.notes,
            }
        )
    for b in Base.objects.active().prefetch_related("components"):
        out["bases"].append(
            {
                "code": b.code,
                "name": b.name,
                "vehicle": b.vehicle,
                "application": b.application,
                "composition": [{"substance": substance_codes[c.substance_id], "percent": _num(c.percent)} for c in b.components.all()],
                "default_ph": _num(b.default_ph),
                "ph_min": _num(b.ph_min),
                "ph_max": _num(b.ph_max),
                "min_quantity": _qty(b.min_quantity),
                "max_quantity": _qty(b.max_quantity),
                "unit": b.unit,
                "density_g_per_ml": _num(b.density_g_per_ml),
                "density_source": b.density_source or None,
                "notes": b.notes,
            }
        )
    return out
