"""The formulary in the shape of formulary.json → the engine's plain facts (pure).

The database loader exports the formulary in that shape and calls this, so there is one
conversion, and the engine can be run on a formulary file alone (tests, benchmarks)."""

from __future__ import annotations

from decimal import Decimal

from orders.rules.facts import BaseFacts, FormularyFacts, MaterialFacts, SubstanceFacts


def _d(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _composition(item) -> tuple[tuple[str, Decimal], ...]:
    return tuple((part["substance"], Decimal(str(part["percent"]))) for part in item["composition"])


def facts_from_json(data: dict, *, version: str | None = None) -> FormularyFacts:
    substances = {
        s["code"]: SubstanceFacts(
            code=s["code"], inci=s["inci"], is_water=s["is_water"], antimicrobial=s["antimicrobial"] or "",
            preservative_min_percent=_d(s["preservative_min_percent"]), preservative_ph_min=_d(s["preservative_ph_min"]),
            preservative_ph_max=_d(s["preservative_ph_max"]), eu_leave_on_max_percent=_d(s["eu_leave_on_max_percent"]),
            eu_rinse_off_max_percent=_d(s.get("eu_rinse_off_max_percent")),
            eu_leave_on_banned=s["eu_leave_on_banned"], eu_limit_as_acid_factor=_d(s["eu_limit_as_acid_factor"]),
            eu_limit_sum_group=s["eu_limit_sum_group"], allergen_groups=frozenset(s["allergen_groups"]),
            disputed_allergen_groups=frozenset(s["disputed_allergen_groups"]),
            origin_unknown_groups=frozenset(s["origin_unknown_groups"]),
        )
        for s in data["substances"]
    }
    materials = {
        m["code"]: MaterialFacts(
            code=m["code"], name=m["name"], category=m["category"], composition=_composition(m),
            use_min_percent=_d(m["use_min_percent"]), use_max_percent=_d(m["use_max_percent"]), vehicles=frozenset(m["vehicles"]),
            ph_min=_d(m["ph_min"]), ph_max=_d(m["ph_max"]), viability=m["viability"] or "", investigational=m["investigational"],
            rx_threshold_percent=_d(m["rx_threshold_percent"]),
            otc_leave_on_max_percent=_d(m["otc_leave_on_range"][1]) if m["otc_leave_on_range"] else None,
            otc_rinse_off_max_percent=_d(m["otc_rinse_off_range"][1]) if m["otc_rinse_off_range"] else None,
            active_substance=m["active_substance"], active_fraction=_d(m["active_fraction"]), storage=m["storage"],
            physical_form=m.get("physical_form") or "solid", strength_basis=m.get("strength_basis") or "w/w",
            density=_d(m.get("density_g_per_ml")),
        )
        for m in data["materials"]
    }
    bases = {
        b["code"]: BaseFacts(
            code=b["code"], name=b["name"], vehicle=b["vehicle"], application=b["application"], composition=_composition(b),
            default_ph=_d(b["default_ph"]), min_quantity=_d(b["min_quantity"]), max_quantity=_d(b["max_quantity"]), unit=b["unit"],
            density=_d(b.get("density_g_per_ml")), density_source=b.get("density_source") or "",
        )
        for b in data["bases"]
    }
    return FormularyFacts(
        version=version or data.get("version", ""),
        substances=substances,
        materials=materials,
        bases=bases,
        allergen_group_names={g["code"]: g["name"] for g in data["allergen_groups"]},
        incompatibilities={frozenset((p["a"], p["b"])): p["reason"] for p in data.get("incompatibilities", [])},
        sum_group_leave_on_max={
            code: _d(limits["eu_leave_on_max_percent"])
            for code, limits in data.get("eu_sum_group_limits", {}).items()
            if limits.get("eu_leave_on_max_percent") is not None
        },
        sum_group_rinse_off_max={
            code: _d(limits["eu_rinse_off_max_percent"])
            for code, limits in data.get("eu_sum_group_limits", {}).items()
            if limits.get("eu_rinse_off_max_percent") is not None
        },
        sterile_routes=frozenset(data["routes"]["sterile_out_of_scope"]),
        non_sterile_routes=frozenset(data["routes"]["non_sterile"]),
    )
