"""The rules engine (RULES.md): one preparation in, findings and dating out. Pure: no database.

`evaluate(prep, formulary, context)` returns a PreparationResult. The page (while typing), the
validate endpoint and order submission all call it, so they can never disagree.
The choices RULES.md and REFERENCE.md leave open are written down in docs/rules.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from orders.rules.arithmetic import HUNDRED, ZERO, batch_weighings, expand, material_share, weight_share
from orders.rules.dating import day_words
from orders.rules.facts import (
    ERROR,
    WARNING,
    BaseFacts,
    Finding,
    FormularyFacts,
    IngredientLine,
    MaterialFacts,
    OrderContext,
    PreparationInput,
    PreparationResult,
)

RULES_VERSION = "2026.12.2"

AQUEOUS_AW = Decimal("0.60")
MICROBIOME_PH = (Decimal("4.5"), Decimal("5.5"))
TOPICAL_PH = (Decimal("3.0"), Decimal("9.0"))  # outside it a leave-on or rinse-off irritates or burns skin (docs/rules.md)
BUD_DAYS = {"aqueous_nonpreserved": 14, "aqueous_preserved": 35, "nonaqueous_oral": 90, "nonaqueous_other": 180}
STORAGE_TEXT = {
    "refrigerate": "Store in a refrigerator, 2–8 °C",
    "room_or_refrigerate": "Store at 20–25 °C or in a refrigerator",
}
# Ingredients that do not make a plain vehicle into something clinically different (TEL-07).
EXCIPIENT_CATEGORIES = frozenset({"preservative", "preservative_booster", "ph_adjuster", "solvent"})


def _pct(value: Decimal) -> str:
    """A percentage as people write it: 0.9 %, 12 %, 0.0015 %."""
    text = f"{value.quantize(Decimal('0.0001')).normalize():f}"
    return f"{text} %"


def _ph(value: Decimal) -> str:
    return f"{value.normalize():f}"


class _Findings(list):
    def error(self, code, message, ingredient=None, substance=None):
        self.append(Finding(code=code, severity=ERROR, message=message, ingredient=ingredient, substance=substance))

    def warn(self, code, message, ingredient=None, substance=None):
        self.append(Finding(code=code, severity=WARNING, message=message, ingredient=ingredient, substance=substance))


@dataclass
class _Mix:
    """What one preparation is made of, worked out once and read by every step: the request, the
    formulary and order facts, the materials found, their shares, and the substances they bring."""

    prep: PreparationInput
    formulary: FormularyFacts
    context: OrderContext
    compounding_date: dt.date
    base: BaseFacts | None
    materials: dict[str, MaterialFacts]
    percents: dict[str, Decimal]
    density: Decimal | None  # the base's g/mL when the preparation is made in mL, else None
    shares: dict[str, Decimal]
    base_share: Decimal
    present: dict[str, Decimal]  # substance code -> effective % (above zero)
    sources: dict[str, list[str]]  # substance code -> the material or base codes it comes from

    @property
    def subs(self):
        return self.formulary.substances

    def via(self, s: str) -> tuple[str, str]:
        """Where a substance comes from: (first source code, the sources' names for a message)."""
        src = self.sources[s]
        names = [self.materials[c].name if c in self.materials else self.base.name for c in src]
        return src[0], ", ".join(names)


@dataclass(frozen=True)
class _Water:
    """Water, pH and preservation, as the dating and the later checks need them."""

    aqueous: bool
    target_ph: Decimal | None
    preserved: bool
    leave_on: bool


@dataclass(frozen=True)
class _Batch:
    quantity: Decimal
    weighings: list


def evaluate(prep: PreparationInput, formulary: FormularyFacts, context: OrderContext, *, today: dt.date) -> PreparationResult:
    """Every rule family in turn, in the order its findings are listed, then the dating."""
    out = _Findings()
    mix = _what_was_asked(prep, formulary, context, today, out)
    _ingredient_checks(mix, out)
    _quantity_route_patient_checks(mix, out)
    _allergen_checks(mix, out)
    _preservative_and_culture_checks(mix, out)
    _incompatibility_checks(mix, out)
    _licence_checks(mix, out)
    water = _water_ph_preservation(mix, out)
    _eu_and_otc_limit_checks(mix, out, leave_on=water.leave_on)
    _essential_copy_check(mix, out)
    batch = _batch_and_stock(mix, out)
    beyond_use_date = _beyond_use_date(mix, out, water, batch)
    refrigerate = (water.aqueous and not water.preserved) or any(m.storage == "refrigerate" for m in mix.materials.values())

    return PreparationResult(
        findings=tuple(out),
        compounding_date=mix.compounding_date,
        target_ph=water.target_ph,
        aqueous=water.aqueous,
        preserved=water.preserved,
        beyond_use_days=(beyond_use_date - mix.compounding_date).days,
        beyond_use_date=beyond_use_date,
        storage="refrigerate" if refrigerate else "room_or_refrigerate",
        base_percent=mix.base_share,
        shares=mix.shares,
        substances=tuple(sorted(mix.present.items(), key=lambda kv: (-kv[1], kv[0]))),
        batch_quantity=batch.quantity,
        weighings=tuple(batch.weighings),
        minimum_weighable_g=context.settings.minimum_weighable_g,
        density=mix.density,
        batch_volume=prep.quantity * (1 + context.settings.overage_percent / HUNDRED) if mix.density is not None else None,
    )


def _what_was_asked(prep: PreparationInput, formulary: FormularyFacts, context: OrderContext, today: dt.date, out: _Findings) -> _Mix:
    """The base, the materials and their shares; unknown, duplicate and over-100 % lines are findings."""
    base = formulary.bases.get(prep.base)
    if base is None:
        out.error("UNKNOWN_BASE", f"Base '{prep.base}' is not in the formulary. Choose a base from the formulary.")
    materials: dict[str, MaterialFacts] = {}
    percents: dict[str, Decimal] = {}
    for line in prep.ingredients:
        material = formulary.materials.get(line.code)
        if material is None:
            out.error("UNKNOWN_INGREDIENT", f"Ingredient '{line.code}' is not in the formulary. Remove it or pick one from the formulary.",
                      ingredient=line.code)
            continue
        if line.code in materials:
            out.error("DUPLICATE_INGREDIENT", f"{material.name} is listed twice. Keep one line with the strength you want.",
                      ingredient=line.code)
            continue
        materials[line.code] = material
        percents[line.code] = line.percent
    # A preparation made in mL is weighed in grams with the base's density; % w/v and % v/v become % w/w.
    density = base.density if base is not None and base.unit == "mL" and prep.unit == "mL" else None
    shares = {code: weight_share(materials[code], material_share(materials[code], percents[code]), density) for code in materials}
    total_share = sum(shares.values(), ZERO)
    base_share = HUNDRED - total_share
    if total_share >= HUNDRED:
        out.error("FORMULA_PERCENT_OVER_100",
                  f"The ingredients add up to {_pct(total_share)} of the preparation, leaving nothing for the base. "
                  "Lower one or more strengths.")
    effective, sources = expand(shares, materials, base, max(base_share, ZERO))
    return _Mix(prep=prep, formulary=formulary, context=context, compounding_date=prep.compounding_date or today, base=base,
                materials=materials, percents=percents, density=density, shares=shares, base_share=base_share,
                present={code: pct for code, pct in effective.items() if pct > 0}, sources=sources)


def _ingredient_checks(mix: _Mix, out: _Findings) -> None:
    """Each material: its usable range, the base's vehicle, live organisms, investigational biologics."""
    base, subs = mix.base, mix.subs
    for code, material in mix.materials.items():
        percent = mix.percents[code]
        if not (material.use_min_percent <= percent <= material.use_max_percent):
            what = f" of {subs[material.active_substance].inci}" if material.active_fraction < 1 and material.active_substance else ""
            out.error("CONCENTRATION_OUT_OF_RANGE",
                      f"{material.name} at {_pct(percent)}{what} is outside its usable range "
                      f"{_pct(material.use_min_percent)}–{_pct(material.use_max_percent)}. Choose a strength in that range.",
                      ingredient=code)
        if base is not None and base.vehicle not in material.vehicles:
            out.error("VEHICLE_NOT_ALLOWED",
                      f"{material.name} cannot go into a {base.vehicle.replace('_', ' ')} base. "
                      f"Choose a base of another kind ({', '.join(sorted(v.replace('_', ' ') for v in material.vehicles))}) or remove it.",
                      ingredient=code)
        if material.viability == "live":
            out.error("LIVE_ORGANISM_NOT_COMPOUNDABLE",
                      f"{material.name} contains live organisms: a live biotherapeutic is a biological product and cannot be "
                      "compounded under 503A. Use a lysate, ferment filtrate or inactivated form instead.", ingredient=code)
        if material.investigational:
            out.error("INVESTIGATIONAL_BIOLOGIC",
                      f"{material.name} is an investigational biologic and cannot be compounded. Remove it.", ingredient=code)


def _quantity_route_patient_checks(mix: _Mix, out: _Findings) -> None:
    """The quantity in the base's unit and range, a non-sterile route, a named patient."""
    prep, base = mix.prep, mix.base
    if base is not None:
        if prep.unit != base.unit:
            out.error("QUANTITY_OUT_OF_RANGE", f"{base.name} is dispensed in {base.unit}, not {prep.unit}. Enter the quantity in {base.unit}.")
        elif not (base.min_quantity <= prep.quantity <= base.max_quantity):
            out.error("QUANTITY_OUT_OF_RANGE",
                      f"{prep.quantity.normalize():f} {prep.unit} is outside what {base.name} can be made in "
                      f"({base.min_quantity.normalize():f}–{base.max_quantity.normalize():f} {base.unit}).")
    if prep.route in mix.formulary.sterile_routes:
        out.error("OUT_OF_SCOPE_STERILE",
                  f"The {prep.route.replace('_', ' ')} route needs a sterile preparation (USP <797>); this pharmacy compounds "
                  "non-sterile topicals only.")
    if prep.directions is not None and not prep.directions.strip():
        out.error("DIRECTIONS_MISSING", "Write the directions for use: the label tells the patient how and how often to apply it.")
    if not mix.context.patient_named:
        out.error("NO_IDENTIFIED_PATIENT", "A compounded preparation is made for one named patient (503A). Add the patient.")


def _allergen_checks(mix: _Mix, out: _Findings) -> None:
    """Allergens inside every material and the base: the patient's allergies, then the groups the prescriber excluded."""
    allergies = mix.context.patient_allergies
    _allergen_group_check(mix, out, allergies, "PATIENT_ALLERGY", "the patient is allergic to")
    _allergen_group_check(mix, out, mix.prep.excluded_allergen_groups - allergies, "EXCLUDED_ALLERGEN", "you excluded")


def _allergen_group_check(mix: _Mix, out: _Findings, groups: frozenset[str], code: str, why: str) -> None:
    subs, present = mix.subs, mix.present
    for group in sorted(groups):
        name = mix.formulary.allergen_group_names.get(group, group)
        carriers = [s for s in present if group in subs[s].allergen_groups]
        for s in carriers:
            first, names = mix.via(s)
            out.error(code, f"{subs[s].inci} (in {names}) belongs to {name}, which {why}. Remove it or choose another "
                      "ingredient or base.", ingredient=first, substance=s)
        if carriers:
            continue
        for s in present:
            if group in subs[s].disputed_allergen_groups:
                first, names = mix.via(s)
                out.warn("DISPUTED_ALLERGEN_MEMBER",
                         f"{subs[s].inci} (in {names}) is a disputed member of {name}, which {why}. "
                         "Confirm with the patient that it is acceptable.", ingredient=first, substance=s)
            if group in subs[s].origin_unknown_groups:
                first, names = mix.via(s)
                out.warn("ORIGIN_UNKNOWN",
                         f"{subs[s].inci} (in {names}) may come from {name}, which {why}; the supplier does "
                         "not state its origin. Choose a source of stated origin if the allergy is serious.",
                         ingredient=first, substance=s)


def _antimicrobials(mix: _Mix) -> list[str]:
    return [s for s in mix.present if mix.subs[s].antimicrobial]


def _preservative_and_culture_checks(mix: _Mix, out: _Findings) -> None:
    """Preservative-free asked for, and live cultures with a preservative."""
    subs, antimicrobials = mix.subs, _antimicrobials(mix)
    if mix.prep.preservative_free:
        for s in antimicrobials:
            first, names = mix.via(s)
            out.error("PRESERVATIVE_EXCLUDED",
                      f"{subs[s].inci} (in {names}) is an antimicrobial, and preservative-free was asked. "
                      "Choose a preservative-free base and remove preservatives.", ingredient=first, substance=s)
    live = [code for code, m in mix.materials.items() if m.viability == "live"]
    if live and antimicrobials:
        out.error("LIVE_CULTURE_WITH_PRESERVATIVE",
                  f"{mix.materials[live[0]].name} is a live culture and {subs[antimicrobials[0]].inci} is an antimicrobial: "
                  "a preservative kills the culture. They cannot be combined.", ingredient=live[0], substance=antimicrobials[0])


def _incompatibility_checks(mix: _Mix, out: _Findings) -> None:
    """Every pair of materials the formulary says cannot be combined."""
    materials = mix.materials
    codes = list(materials)
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            reason = mix.formulary.incompatibilities.get(frozenset((a, b)))
            if reason:
                out.error("INCOMPATIBLE_INGREDIENTS", f"{materials[a].name} and {materials[b].name} cannot be combined: {reason}",
                          ingredient=b)


def _licence_checks(mix: _Mix, out: _Findings) -> None:
    """The prescriber licensed where the patient was; the pharmacy licensed where it ships, on the compounding date."""
    context, on = mix.context, mix.compounding_date
    encounter = context.encounter_state or context.ship_to_state
    if encounter and not any(lic.state == encounter and lic.expires_on >= on for lic in context.prescriber_licences):
        out.error("PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE",
                  f"The prescriber has no active licence in {encounter}, where the patient was at the encounter, on "
                  f"{on.isoformat()}. A prescriber licensed in {encounter} must write this order.")
    if context.ship_to_state and not any(
        lic.state == context.ship_to_state and lic.expires_on >= on for lic in context.pharmacy_licences
    ):
        out.error("PHARMACY_NOT_LICENSED_FOR_DESTINATION",
                  f"The pharmacy is not licensed to ship to {context.ship_to_state} on {on.isoformat()}. "
                  "Ship to an address in another state, or ask the pharmacy.")


def _water_ph_preservation(mix: _Mix, out: _Findings) -> _Water:
    """Is it aqueous, at what pH, and is it preserved; with the warnings about each."""
    prep, base, subs, present = mix.prep, mix.base, mix.subs, mix.present
    antimicrobials = _antimicrobials(mix)
    has_water = any(subs[s].is_water for s in present)
    if prep.water_activity is not None:
        aqueous = prep.water_activity >= AQUEOUS_AW
    else:
        aqueous = has_water
        if has_water:
            out.warn("AW_NOT_MEASURED", "Water activity was not measured; the preparation contains water, so it is dated as "
                     "aqueous. A measured value below 0.60 would allow a longer date.")
    target_ph = None
    if base is not None and base.default_ph is not None:
        target_ph = prep.target_ph if prep.target_ph is not None else base.default_ph
    elif base is None and prep.target_ph is not None:
        target_ph = prep.target_ph

    def preserves(s: str) -> bool:
        facts = subs[s]
        return (
            facts.antimicrobial == "qualifying"
            and facts.preservative_min_percent is not None
            and present[s] >= facts.preservative_min_percent
            and target_ph is not None
            and (facts.preservative_ph_min is None or facts.preservative_ph_min <= target_ph)
            and (facts.preservative_ph_max is None or target_ph <= facts.preservative_ph_max)
        )

    preserved = aqueous and any(preserves(s) for s in antimicrobials)
    qualifying = [s for s in antimicrobials if subs[s].antimicrobial == "qualifying"]
    if target_ph is not None:
        for s in qualifying:
            facts = subs[s]
            low, high = facts.preservative_ph_min, facts.preservative_ph_max
            if (low is not None and target_ph < low) or (high is not None and target_ph > high):
                out.warn("PRESERVATIVE_PH_OUT_OF_RANGE",
                         f"{facts.inci} works at pH {_ph(low)}–{_ph(high)}; at pH {_ph(target_ph)} it does not preserve the "
                         "preparation. Adjust the target pH or choose another preservative.",
                         ingredient=mix.via(s)[0], substance=s)
    if aqueous and antimicrobials and not qualifying:
        roles = {subs[s].antimicrobial for s in antimicrobials}
        if "non_qualifying" in roles:
            s = next(s for s in antimicrobials if subs[s].antimicrobial == "non_qualifying")
            out.warn("NON_QUALIFYING_PRESERVATIVE",
                     f"{subs[s].inci} is antimicrobial but does not qualify as a preservative for USP <795> dating; the "
                     "preparation is dated as nonpreserved.", ingredient=mix.via(s)[0], substance=s)
        else:
            s = antimicrobials[0]
            out.warn("BOOSTER_NOT_PRESERVATIVE",
                     f"{subs[s].inci} only boosts a preservative and never preserves on its own; the preparation is dated as "
                     "nonpreserved. Add a qualifying preservative for a 35-day date.",
                     ingredient=mix.via(s)[0], substance=s)
    if target_ph is not None and not (TOPICAL_PH[0] <= target_ph <= TOPICAL_PH[1]):
        out.error("PH_NOT_TOPICAL",
                  f"Target pH {_ph(target_ph)} is outside 3.0–9.0, the range a preparation for skin, scalp or nails is made in. "
                  "Choose a target pH between 3.0 and 9.0 (4.5–5.5 suits skin best).")
    leave_on = base is not None and base.application == "leave_on"
    if aqueous and leave_on and target_ph is not None and not (MICROBIOME_PH[0] <= target_ph <= MICROBIOME_PH[1]):
        out.warn("PH_OUTSIDE_MICROBIOME_TARGET",
                 f"Target pH {_ph(target_ph)} is outside the skin-friendly 4.5–5.5 for a leave-on preparation.")
    if target_ph is not None:
        for code, m in mix.materials.items():
            if (m.ph_min is not None and target_ph < m.ph_min) or (m.ph_max is not None and target_ph > m.ph_max):
                out.warn("INGREDIENT_PH_OUT_OF_RANGE",
                         f"{m.name} needs pH {_ph(m.ph_min)}–{_ph(m.ph_max)}; the target is {_ph(target_ph)}.", ingredient=code)
    return _Water(aqueous=aqueous, target_ph=target_ph, preserved=preserved, leave_on=leave_on)


def _eu_and_otc_limit_checks(mix: _Mix, out: _Findings, *, leave_on: bool) -> None:
    """EU leave-on bans and maxima (one substance, then each sum group), EU rinse-off maxima, and the OTC ranges."""
    subs, present, base = mix.subs, mix.present, mix.base
    if leave_on:
        sums: dict[str, Decimal] = {}
        for s in present:
            facts = subs[s]
            regulated = present[s] * (facts.eu_limit_as_acid_factor or 1)
            if facts.eu_leave_on_banned:
                out.warn("EU_LEAVE_ON_RESTRICTED", f"{facts.inci} is banned in EU leave-on products.",
                         ingredient=mix.via(s)[0], substance=s)
            elif facts.eu_leave_on_max_percent is not None and regulated > facts.eu_leave_on_max_percent:
                basis = " (as acid)" if facts.eu_limit_as_acid_factor else ""
                out.warn("EXCEEDS_EU_LEAVE_ON_LIMIT",
                         f"{facts.inci} at {_pct(regulated)}{basis} is above the EU leave-on maximum of "
                         f"{_pct(facts.eu_leave_on_max_percent)}.", ingredient=mix.via(s)[0], substance=s)
            if facts.eu_limit_sum_group:
                sums[facts.eu_limit_sum_group] = sums.get(facts.eu_limit_sum_group, ZERO) + regulated
        for group, total in sums.items():
            limit = mix.formulary.sum_group_leave_on_max.get(group)
            if limit is not None and total > limit:
                out.warn("EXCEEDS_EU_LEAVE_ON_LIMIT",
                         f"Together the {group.replace('-', ' ')} come to {_pct(total)}, above the EU leave-on maximum of {_pct(limit)}.")
    if base is not None and base.application == "rinse_off":
        _rinse_off_limits(out, present, subs, mix.formulary, mix.via)
    if base is not None:
        for code, m in mix.materials.items():
            otc_max = m.otc_leave_on_max_percent if base.application == "leave_on" else m.otc_rinse_off_max_percent
            if otc_max is not None and mix.percents[code] > otc_max:
                kind = "leave-on" if base.application == "leave_on" else "rinse-off"
                out.warn("ABOVE_OTC_RANGE", f"{m.name} at {_pct(mix.percents[code])} is above the OTC {kind} range (up to {_pct(otc_max)}).",
                         ingredient=code)


def _essential_copy_check(mix: _Mix, out: _Findings) -> None:
    """One prescription-strength material in a plain base, with no note on the clinical difference."""
    materials, percents = mix.materials, mix.percents
    rx = [code for code, m in materials.items() if m.rx_threshold_percent is not None and percents[code] >= m.rx_threshold_percent]
    others = [code for code, m in materials.items() if code not in rx and m.category not in EXCIPIENT_CATEGORIES]
    if len(rx) == 1 and not others and not mix.context.clinical_difference_note.strip():
        m = materials[rx[0]]
        out.warn("POSSIBLE_ESSENTIAL_COPY",
                 f"{m.name} at {_pct(percents[rx[0]])} in a plain base may be essentially a copy of a commercial product. "
                 "Add a note on the clinical difference this preparation makes for the patient.", ingredient=rx[0])


def _batch_and_stock(mix: _Mix, out: _Findings) -> _Batch:
    """The batch to weigh (with overage), from usable lots first to expire; short stock and tiny weighings are warnings."""
    context, base = mix.context, mix.base
    lots_by_item: dict[str, list] = {}
    for lot in context.lots:
        if lot.expires_on >= mix.compounding_date and lot.quantity_on_hand > 0:
            lots_by_item.setdefault(lot.item_code, []).append(lot)
    batch, weighings, covered = batch_weighings(
        quantity=mix.prep.quantity, shares=mix.shares, base=base, settings=context.settings, lots_by_item=lots_by_item,
        density=mix.density, materials=mix.materials,
    )
    for line in weighings:
        name = mix.materials[line.item_code].name if line.kind == "material" else base.name
        if not covered[line.item_code]:
            have = sum((lot.quantity_on_hand for lot in lots_by_item.get(line.item_code, [])), ZERO)
            unit = base.unit if line.kind == "base" else "g"
            if line.kind == "base" and line.millilitres is not None:
                need = f"{line.millilitres.normalize():f} mL ({line.quantity.normalize():f} g)"
            else:
                need = f"{line.quantity.normalize():f} {unit}"
            out.warn("INSUFFICIENT_STOCK",
                     f"{name}: the batch needs {need}; released, unexpired stock is {have.normalize():f} {unit}.",
                     ingredient=line.item_code)
        if line.below_mwq:
            out.warn("BELOW_MWQ",
                     f"{name}: {line.quantity.normalize():f} g is below the balance's minimum weighable quantity "
                     f"({context.settings.minimum_weighable_g.normalize():f} g); the worksheet adds an aliquot step.",
                     ingredient=line.item_code)
    return _Batch(quantity=batch, weighings=weighings)


def _item_name(mix: _Mix, code: str) -> str:
    """A material's or base's name as the formulary writes it (the code only if the formulary has neither)."""
    item = mix.formulary.materials.get(code) or mix.formulary.bases.get(code)
    return item.name if item else code


def _beyond_use_date(mix: _Mix, out: _Findings, water: _Water, batch: _Batch) -> dt.date:
    """The USP <795> table's date, shortened to the first lot that expires before it."""
    category = "aqueous_preserved" if water.aqueous and water.preserved else "aqueous_nonpreserved" if water.aqueous else "nonaqueous_other"
    days = BUD_DAYS[category]
    table_date = mix.compounding_date + dt.timedelta(days=days)
    beyond_use_date = table_date
    used_lots = [lot for line in batch.weighings for lot in line.lots]
    for lot in sorted(used_lots, key=lambda lot: lot.expires_on):
        if lot.expires_on < table_date:
            out.warn("BUD_LIMITED_BY_COMPONENT",
                     f"Lot {lot.lot_number} of {_item_name(mix, lot.item_code)} expires {day_words(lot.expires_on)}, before the "
                     f"{days}-day date; the beyond-use date is shortened to match.", ingredient=lot.item_code)
            beyond_use_date = min(beyond_use_date, lot.expires_on)
    return beyond_use_date


def _rinse_off_limits(out: _Findings, present: dict[str, Decimal], subs, formulary: FormularyFacts, via) -> None:
    """EU Annex V maxima for rinse-off products, per substance and per sum group, on the regulated
    basis (× acid factor). At the limit is allowed; only above it warns."""
    sums: dict[str, Decimal] = {}
    for s, percent in present.items():
        facts = subs[s]
        regulated = percent * (facts.eu_limit_as_acid_factor or 1)
        limit = facts.eu_rinse_off_max_percent
        if limit is not None and regulated > limit:
            basis = " (as acid)" if facts.eu_limit_as_acid_factor else ""
            out.warn("EXCEEDS_EU_RINSE_OFF_LIMIT",
                     f"{facts.inci} at {_pct(regulated)}{basis} is above the EU maximum of {_pct(limit)} for rinse-off products. "
                     "Lower its strength or choose another preservative.", ingredient=via(s)[0], substance=s)
        if facts.eu_limit_sum_group:
            sums[facts.eu_limit_sum_group] = sums.get(facts.eu_limit_sum_group, ZERO) + regulated
    for group, total in sums.items():
        limit = formulary.sum_group_rinse_off_max.get(group)
        if limit is not None and total > limit:
            out.warn("EXCEEDS_EU_RINSE_OFF_LIMIT",
                     f"Together the {group.replace('-', ' ')} come to {_pct(total)}, above the EU maximum of {_pct(limit)} "
                     "for rinse-off products. Lower one of them.")


def ingredient_lines(raw: list[tuple[str, Decimal]]) -> tuple[IngredientLine, ...]:
    return tuple(IngredientLine(code=code, percent=percent) for code, percent in raw)
