"""The rules engine, pure: every code of RULES.md fires on a case and stays quiet on a near miss."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal as D

import pytest

from orders.rules import evaluate
from orders.rules.facts import Licence, Lot, OrderContext, PreparationInput
from orders.rules.engine import ingredient_lines
from orders.rules.from_json import facts_from_json
from portal.demo import SEED_FORMULARY

TODAY = dt.date(2026, 11, 29)
FACTS = facts_from_json(json.loads(SEED_FORMULARY.read_text()))
ALL_STATES = ("CA", "NY", "TX", "FL", "WA", "NV", "IA")
FAR = dt.date(2030, 1, 1)


def plenty_of_stock(expires=FAR) -> tuple[Lot, ...]:
    codes = list(FACTS.materials) + list(FACTS.bases)
    return tuple(Lot(item_code=c, lot_number=f"{c}-A", expires_on=expires, quantity_on_hand=D(100000)) for c in codes)


CONTEXT = OrderContext(
    ship_to_state="CA",
    encounter_state="CA",
    prescriber_licences=(Licence("CA", FAR), Licence("NY", FAR)),
    pharmacy_licences=tuple(Licence(s, FAR) for s in ("CA", "NY", "TX", "FL")) + (Licence("NV", dt.date(2025, 2, 28)),),
    lots=plenty_of_stock(),
)


def prep(base="cream-base-pf", ingredients=(), quantity="50", unit=None, **kw) -> PreparationInput:
    unit = unit or FACTS.bases[base].unit if base in FACTS.bases else unit or "g"
    return PreparationInput(
        base=base, quantity=D(quantity), unit=unit,
        ingredients=ingredient_lines([(code, D(str(pct))) for code, pct in ingredients]), **kw,
    )


def run(preparation, context=CONTEXT):
    return evaluate(preparation, FACTS, context, today=TODAY)


def codes(result) -> set[str]:
    return {f.code for f in result.findings}


def finding(result, code):
    return next(f for f in result.findings if f.code == code)


# --- RULES.md worked examples -------------------------------------------------------------

def test_preservative_free_cream_alone_is_14_days_refrigerated():
    result = run(prep())
    assert (result.aqueous, result.preserved, result.beyond_use_days, result.storage) == (True, False, 14, "refrigerate")
    assert result.beyond_use_date == TODAY + dt.timedelta(days=14)
    assert codes(result) == {"AW_NOT_MEASURED"}


def test_one_percent_pe9010_at_ph5_preserves_for_35_days():
    result = run(prep(ingredients=[("pe9010", 1)], target_ph=D("5.0")))
    assert dict(result.substances)["phenoxyethanol"] == D("0.9")
    assert (result.preserved, result.beyond_use_days, result.storage) == (True, 35, "room_or_refrigerate")


def test_ointment_with_ceramide_is_nonaqueous_180_days_without_ph_rules():
    result = run(prep(base="ointment-base", ingredients=[("ceramide-np", 1)]))
    assert (result.aqueous, result.beyond_use_days, result.target_ph) == (False, 180, None)
    assert codes(result) == set()


def test_excluding_fragrance_allergens_refuses_benzyl_alcohol_used_as_preservative():
    result = run(prep(ingredients=[("benzyl-alcohol", 1)], target_ph=D("4.5"), excluded_allergen_groups=frozenset({"FRAGRANCE_ALLERGENS"})))
    f = finding(result, "EXCLUDED_ALLERGEN")
    assert f.severity == "error" and f.substance == "benzyl-alcohol" and f.ingredient == "benzyl-alcohol"


def test_excluding_formaldehyde_releasers_refuses_the_conditioner_base():
    result = run(prep(base="conditioner-base", quantity="100", excluded_allergen_groups=frozenset({"FORMALDEHYDE_RELEASERS"})))
    f = finding(result, "EXCLUDED_ALLERGEN")
    assert f.substance == "sodium-hydroxymethylglycinate" and f.ingredient == "conditioner-base"
    assert "Conditioning rinse base" in f.message  # named as the prescriber knows it


# --- Errors: each fires, and a near miss does not ----------------------------------------

def test_unknown_base_and_ingredient():
    result = run(prep(base="cold-cream", unit="g", ingredients=[("unobtainium", 1), ("niacinamide", 4)]))
    assert {"UNKNOWN_BASE", "UNKNOWN_INGREDIENT"} <= codes(result)
    assert finding(result, "UNKNOWN_INGREDIENT").ingredient == "unobtainium"
    assert "UNKNOWN_INGREDIENT" not in codes(run(prep(ingredients=[("niacinamide", 4)], target_ph=D("6"))))


def test_duplicate_ingredient():
    assert "DUPLICATE_INGREDIENT" in codes(run(prep(ingredients=[("niacinamide", 4), ("niacinamide", 2)], target_ph=D(6))))
    assert "DUPLICATE_INGREDIENT" not in codes(run(prep(ingredients=[("niacinamide", 4), ("panthenol", 2)], target_ph=D(6))))


@pytest.mark.parametrize("percent, fires", [("0.99", True), ("1", False), ("10", False), ("10.01", True)])
def test_concentration_range_is_inclusive(percent, fires):
    result = run(prep(ingredients=[("niacinamide", percent)], target_ph=D(6)))
    assert ("CONCENTRATION_OUT_OF_RANGE" in codes(result)) is fires


def test_formula_over_100_percent_and_exactly_100_leaves_nothing_for_the_base():
    over = run(prep(ingredients=[("galactomyces-ferment-filtrate", 95), ("glycerin", 10)]))
    assert "FORMULA_PERCENT_OVER_100" in codes(over)
    exactly = run(prep(ingredients=[("galactomyces-ferment-filtrate", 90), ("glycerin", 10)]))
    assert "FORMULA_PERCENT_OVER_100" in codes(exactly)
    fine = run(prep(ingredients=[("galactomyces-ferment-filtrate", 89), ("glycerin", 10)]))
    assert "FORMULA_PERCENT_OVER_100" not in codes(fine) and fine.base_percent == D(1)


def test_active_fraction_share_counts_the_material_as_supplied():
    # 0.1 % beta-glucan from a 1 % solution is a 10 % share of the solution
    result = run(prep(ingredients=[("beta-glucan-solution", "0.1")], target_ph=D(5)))
    assert result.shares["beta-glucan-solution"] == D(10) and result.base_percent == D(90)
    assert dict(result.substances)["beta-glucan"] == D("0.1")


def test_vehicle_not_allowed():
    assert "VEHICLE_NOT_ALLOWED" in codes(run(prep(base="ointment-base", ingredients=[("galactomyces-ferment-filtrate", 10)])))
    assert "VEHICLE_NOT_ALLOWED" not in codes(run(prep(base="ointment-base", ingredients=[("squalane", 10)])))


@pytest.mark.parametrize("quantity, unit, fires", [("14.999", "g", True), ("15", "g", False), ("500", "g", False), ("501", "g", True), ("50", "mL", True)])
def test_quantity_range_and_unit(quantity, unit, fires):
    assert ("QUANTITY_OUT_OF_RANGE" in codes(run(prep(quantity=quantity, unit=unit)))) is fires


def test_sterile_routes_are_out_of_scope():
    assert "OUT_OF_SCOPE_STERILE" in codes(run(prep(route="ophthalmic")))
    assert "OUT_OF_SCOPE_STERILE" not in codes(run(prep(route="scalp")))


def test_no_identified_patient():
    assert "NO_IDENTIFIED_PATIENT" in codes(run(prep(), replace(CONTEXT, patient_named=False)))
    assert "NO_IDENTIFIED_PATIENT" not in codes(run(prep()))


def test_patient_allergy_is_found_inside_a_supplied_material():
    # Skim-milk cryoprotectant inside the inactivated-probiotic powder
    ctx = replace(CONTEXT, patient_allergies=frozenset({"DAIRY"}))
    result = run(prep(ingredients=[("lactobacillus-plantarum-inactivated-milk", 1)]), ctx)
    f = finding(result, "PATIENT_ALLERGY")
    assert f.substance == "skim-milk-powder" and f.ingredient == "lactobacillus-plantarum-inactivated-milk"
    # lactic acid is not dairy
    assert "PATIENT_ALLERGY" not in codes(run(prep(ingredients=[("lactic-acid", 1)], target_ph=D("4.5")), ctx))


def test_propylene_glycol_exclusion_finds_it_in_the_base_but_not_butylene_glycol():
    pg = frozenset({"PROPYLENE_GLYCOL"})
    assert finding(run(prep(base="cream-base-pg", excluded_allergen_groups=pg)), "EXCLUDED_ALLERGEN").substance == "propylene-glycol"
    # butylene glycol (inside the lysate solution) is not propylene glycol
    result = run(prep(ingredients=[("lactobacillus-ferment-lysate", 2)], excluded_allergen_groups=pg))
    assert "EXCLUDED_ALLERGEN" not in codes(result)
    assert dict(result.substances)["butylene-glycol"] > 0


def test_preservative_excluded_reaches_the_base_and_materials():
    result = run(prep(base="cream-base-pe", preservative_free=True))
    assert {f.substance for f in result.findings if f.code == "PRESERVATIVE_EXCLUDED"} == {"phenoxyethanol", "ethylhexylglycerin"}
    # a lysate's solvents are not antimicrobials
    assert "PRESERVATIVE_EXCLUDED" not in codes(run(prep(ingredients=[("lactobacillus-ferment-lysate", 2)], preservative_free=True)))


def test_live_organisms_are_refused_and_never_with_a_preservative():
    live = run(prep(base="ointment-base", ingredients=[("lactobacillus-reuteri-live", 1)]))
    assert "LIVE_ORGANISM_NOT_COMPOUNDABLE" in codes(live) and "LIVE_CULTURE_WITH_PRESERVATIVE" not in codes(live)
    with_pe = run(prep(base="cream-base-pe", ingredients=[("lactobacillus-reuteri-live", 1)]))
    assert "LIVE_CULTURE_WITH_PRESERVATIVE" in codes(with_pe)
    inactivated = run(prep(ingredients=[("lactobacillus-plantarum-inactivated", 1)]))
    assert not {"LIVE_ORGANISM_NOT_COMPOUNDABLE", "LIVE_CULTURE_WITH_PRESERVATIVE"} & codes(inactivated)


def test_investigational_biologic():
    assert "INVESTIGATIONAL_BIOLOGIC" in codes(run(prep(ingredients=[("staphylococcus-hominis-a9", 1)])))
    assert "INVESTIGATIONAL_BIOLOGIC" not in codes(run(prep(ingredients=[("bifida-ferment-lysate", 2)])))


def test_incompatible_pair():
    result = run(prep(ingredients=[("salicylic-acid", 1), ("niacinamide", 4)], target_ph=D(6)))
    assert "INCOMPATIBLE_INGREDIENTS" in codes(result)
    assert "INCOMPATIBLE_INGREDIENTS" not in codes(run(prep(ingredients=[("niacinamide", 4), ("panthenol", 2)], target_ph=D(6))))


def test_prescriber_licence_for_the_encounter_state_on_the_compounding_date():
    ctx = replace(CONTEXT, encounter_state="TX")
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" in codes(run(prep(), ctx))
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" not in codes(run(prep(), replace(ctx, encounter_state="NY")))
    expiring = replace(CONTEXT, prescriber_licences=(Licence("CA", dt.date(2026, 12, 5)),))
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" not in codes(run(prep(compounding_date=dt.date(2026, 12, 5)), expiring))
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" in codes(run(prep(compounding_date=dt.date(2026, 12, 6)), expiring))


def test_encounter_state_defaults_to_ship_to():
    ctx = replace(CONTEXT, encounter_state=None, ship_to_state="TX", pharmacy_licences=(Licence("TX", FAR),))
    assert "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE" in codes(run(prep(), ctx))


def test_pharmacy_licence_for_the_destination():
    assert "PHARMACY_NOT_LICENSED_FOR_DESTINATION" in codes(run(prep(), replace(CONTEXT, ship_to_state="NV")))  # expired
    assert "PHARMACY_NOT_LICENSED_FOR_DESTINATION" in codes(run(prep(), replace(CONTEXT, ship_to_state="IA")))  # never held
    assert "PHARMACY_NOT_LICENSED_FOR_DESTINATION" not in codes(run(prep(), replace(CONTEXT, ship_to_state="FL")))


# --- Warnings -----------------------------------------------------------------------------

def test_disputed_member_warns_only():
    ctx = replace(CONTEXT, patient_allergies=frozenset({"TREE_NUTS"}))
    result = run(prep(ingredients=[("shea-butter", 5)]), ctx)
    assert finding(result, "DISPUTED_ALLERGEN_MEMBER").severity == "warning"
    assert "PATIENT_ALLERGY" not in codes(result)
    almond = run(prep(ingredients=[("sweet-almond-oil", 5), ("shea-butter", 5)]), ctx)
    assert "PATIENT_ALLERGY" in codes(almond) and "DISPUTED_ALLERGEN_MEMBER" not in codes(almond)


def test_origin_unknown_tocopherol_for_soy():
    excl = frozenset({"SOY"})
    assert finding(run(prep(ingredients=[("tocopherol", "0.5")], excluded_allergen_groups=excl)), "ORIGIN_UNKNOWN").substance == "tocopherol"
    assert "EXCLUDED_ALLERGEN" in codes(run(prep(ingredients=[("tocopherol-soy", "0.5")], excluded_allergen_groups=excl)))
    assert "ORIGIN_UNKNOWN" not in codes(run(prep(ingredients=[("tocopherol", "0.5")])))


@pytest.mark.parametrize("aw, aqueous", [("0.60", True), ("0.59", False)])
def test_water_activity_boundary(aw, aqueous):
    result = run(prep(water_activity=D(aw)))
    assert result.aqueous is aqueous
    assert result.beyond_use_days == (14 if aqueous else 180)
    assert "AW_NOT_MEASURED" not in codes(result)


def test_aw_not_measured_only_when_water_is_present():
    assert "AW_NOT_MEASURED" in codes(run(prep()))
    # Its words are read by the prescriber and the pharmacist: no spec reference such as "(BUD-07)" in them.
    assert finding(run(prep()), "AW_NOT_MEASURED").message == ("Water activity was not measured; the preparation contains water, so "
                                                               "it is dated as aqueous. A measured value below 0.60 would allow a "
                                                               "longer date.")
    assert "AW_NOT_MEASURED" not in codes(run(prep(base="balm-base")))


def test_preservative_ph_window():
    # sodium benzoate works up to pH 5.5
    assert "PRESERVATIVE_PH_OUT_OF_RANGE" in codes(run(prep(ingredients=[("sodium-benzoate", "0.5")], target_ph=D("6.0"))))
    inside = run(prep(ingredients=[("sodium-benzoate", "0.5")], target_ph=D("5.5")))
    assert "PRESERVATIVE_PH_OUT_OF_RANGE" not in codes(inside) and inside.preserved


def test_non_qualifying_preservative_and_booster():
    radish = run(prep(ingredients=[("leuconostoc-radish-ferment", 3)], target_ph=D(5)))
    assert "NON_QUALIFYING_PRESERVATIVE" in codes(radish) and not radish.preserved and radish.beyond_use_days == 14
    booster = run(prep(ingredients=[("ethylhexylglycerin", 1)], target_ph=D(5)))
    assert "BOOSTER_NOT_PRESERVATIVE" in codes(booster) and not booster.preserved
    blend = run(prep(ingredients=[("pe9010", 1)], target_ph=D(5)))  # has a booster, but a qualifying preservative too
    assert not {"NON_QUALIFYING_PRESERVATIVE", "BOOSTER_NOT_PRESERVATIVE"} & codes(blend)


@pytest.mark.parametrize("ph, fires", [("4.4", True), ("4.5", False), ("5.5", False), ("5.6", True)])
def test_microbiome_ph_window_is_inclusive(ph, fires):
    assert ("PH_OUTSIDE_MICROBIOME_TARGET" in codes(run(prep(target_ph=D(ph))))) is fires


def test_microbiome_ph_only_for_leave_on():
    assert "PH_OUTSIDE_MICROBIOME_TARGET" not in codes(run(prep(base="shampoo-base-gentle", quantity="100", target_ph=D("6.0"))))


def test_ingredient_ph_window():
    assert "INGREDIENT_PH_OUT_OF_RANGE" in codes(run(prep(ingredients=[("niacinamide", 4)], target_ph=D("4.5"))))
    assert "INGREDIENT_PH_OUT_OF_RANGE" not in codes(run(prep(ingredients=[("niacinamide", 4)], target_ph=D("5.0"))))


def test_eu_leave_on_limit_as_acid():
    # sodium benzoate 0.59 % = 0.4997 % as benzoic acid: under 0.5 %; 0.6 % = 0.508 %: over
    assert "EXCEEDS_EU_LEAVE_ON_LIMIT" not in codes(run(prep(ingredients=[("sodium-benzoate", "0.59")], target_ph=D(5))))
    assert "EXCEEDS_EU_LEAVE_ON_LIMIT" in codes(run(prep(ingredients=[("sodium-benzoate", "0.6")], target_ph=D(5))))


def test_eu_sum_group_propyl_and_butyl_parabens():
    over = run(prep(ingredients=[("propylparaben", "0.1"), ("butylparaben", "0.05")], target_ph=D(5)))
    assert "EXCEEDS_EU_LEAVE_ON_LIMIT" in codes(over)
    under = run(prep(ingredients=[("propylparaben", "0.07"), ("butylparaben", "0.07")], target_ph=D(5)))
    assert "EXCEEDS_EU_LEAVE_ON_LIMIT" not in codes(under)


def test_eu_leave_on_restricted_only_in_leave_on():
    # the isothiazolinone mix inside the CAPB shampoo base is allowed in rinse-off
    assert "EU_LEAVE_ON_RESTRICTED" not in codes(run(prep(base="shampoo-base-capb", quantity="100")))
    assert "EU_LEAVE_ON_RESTRICTED" in codes(run(prep(ingredients=[("methylisothiazolinone", "0.001")])))


def test_above_otc_range_depends_on_application():
    leave_on = run(prep(ingredients=[("zinc-pyrithione", "0.5")]))
    assert "ABOVE_OTC_RANGE" in codes(leave_on)
    rinse_off = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("zinc-pyrithione", "0.5")]))
    assert "ABOVE_OTC_RANGE" not in codes(rinse_off)


def test_possible_essential_copy_and_the_note_that_clears_it():
    copy = prep(base="cream-base-pe", ingredients=[("hydrocortisone", "2.5")])
    assert "POSSIBLE_ESSENTIAL_COPY" in codes(run(copy))
    assert "POSSIBLE_ESSENTIAL_COPY" not in codes(run(copy, replace(CONTEXT, clinical_difference_note="Free of propylene glycol: allergy.")))
    assert "POSSIBLE_ESSENTIAL_COPY" not in codes(run(prep(base="cream-base-pe", ingredients=[("hydrocortisone", "0.5")])))
    with_more = prep(base="cream-base-pe", ingredients=[("hydrocortisone", "2.5"), ("ceramide-np", 1)])
    assert "POSSIBLE_ESSENTIAL_COPY" not in codes(run(with_more))


def test_stock_limits_the_bud_and_is_checked():
    soon = TODAY + dt.timedelta(days=10)
    lots = tuple(lot if lot.item_code != "cream-base-pf" else replace(lot, expires_on=soon) for lot in plenty_of_stock())
    result = run(prep(), replace(CONTEXT, lots=lots))
    assert "BUD_LIMITED_BY_COMPONENT" in codes(result)
    # The lot's expiry as people read a date (walk-through wk): "expires Dec 11, 2026", not "expires 2026-12-11".
    assert f"expires {soon:%b} {soon.day}, {soon.year}, before the 14-day date" in finding(result, "BUD_LIMITED_BY_COMPONENT").message
    # The base by the name the formulary gives it, not its code.
    base_name = FACTS.bases["cream-base-pf"].name
    assert f" of {base_name} expires" in finding(result, "BUD_LIMITED_BY_COMPONENT").message
    assert result.beyond_use_date == soon and result.beyond_use_days == 10
    assert "INSUFFICIENT_STOCK" in codes(run(prep(), replace(CONTEXT, lots=())))
    small = tuple(replace(lot, quantity_on_hand=D(10)) for lot in plenty_of_stock())
    assert "INSUFFICIENT_STOCK" in codes(run(prep(), replace(CONTEXT, lots=small)))  # 52.5 g needed
    assert "INSUFFICIENT_STOCK" not in codes(run(prep()))


def test_expired_lots_are_never_used():
    old = tuple(replace(lot, expires_on=TODAY - dt.timedelta(days=1)) for lot in plenty_of_stock())
    result = run(prep(), replace(CONTEXT, lots=old))
    assert "INSUFFICIENT_STOCK" in codes(result)
    assert all(not line.lots for line in result.weighings)
    assert result.beyond_use_days == 14


def test_fefo_picks_the_earliest_lot_and_caps_by_it():
    a = Lot("pe9010", "LATE", dt.date(2029, 1, 1), D(100))
    b = Lot("pe9010", "EARLY", TODAY + dt.timedelta(days=20), D(100))
    lots = tuple(lot for lot in plenty_of_stock() if lot.item_code != "pe9010") + (a, b)
    result = run(prep(ingredients=[("pe9010", 1)], target_ph=D(5)), replace(CONTEXT, lots=lots))
    line = next(line for line in result.weighings if line.item_code == "pe9010")
    assert [lot.lot_number for lot in line.lots] == ["EARLY"]
    assert result.beyond_use_days == 20


def test_below_minimum_weighable_quantity():
    # 0.2 % of a 52.5 g batch = 0.105 g, under the 120 mg a 6 mg balance weighs within 5 %
    result = run(prep(ingredients=[("allantoin", "0.2")]))
    assert "CONCENTRATION_OUT_OF_RANGE" not in codes(result)
    assert "BELOW_MWQ" in codes(result)
    assert "BELOW_MWQ" not in codes(run(prep(ingredients=[("allantoin", "0.5")])))  # 0.26 g


# --- Beyond-use table and near misses from the issue -------------------------------------

def test_all_rows_of_the_bud_table():
    assert run(prep()).beyond_use_days == 14  # aqueous nonpreserved
    assert run(prep(base="cream-base-pe")).beyond_use_days == 35  # aqueous preserved (by its base)
    assert run(prep(base="ointment-base")).beyond_use_days == 180  # nonaqueous topical
    from orders.rules.engine import BUD_DAYS

    assert BUD_DAYS["nonaqueous_oral"] == 90  # kept for completeness; no oral route is orderable here


def test_heavily_loaded_formula_dilutes_the_base_preservative_below_its_minimum():
    light = run(prep(base="cream-base-pe", ingredients=[("glycerin", 5)]))
    assert light.preserved and dict(light.substances)["phenoxyethanol"] == D("0.855")
    heavy = run(prep(base="cream-base-pe", ingredients=[("galactomyces-ferment-filtrate", 50)]))
    assert dict(heavy.substances)["phenoxyethanol"] == D("0.45")
    assert not heavy.preserved and heavy.beyond_use_days == 14 and heavy.storage == "refrigerate"


def test_storage_follows_from_the_category():
    assert run(prep()).storage == "refrigerate"
    assert run(prep(base="cream-base-pe")).storage == "room_or_refrigerate"
    assert run(prep(base="ointment-base")).storage == "room_or_refrigerate"


def test_weighings_add_up_to_the_batch_with_overage():
    result = run(prep(quantity="50", ingredients=[("niacinamide", 4), ("panthenol", 2)], target_ph=D(6)))
    assert result.batch_quantity == D("52.50")
    assert sum(line.quantity for line in result.weighings) == result.batch_quantity
    niacinamide = next(line for line in result.weighings if line.item_code == "niacinamide")
    assert niacinamide.quantity == D("2.10")


# --- Rules that stop a signature (issue 15) ------------------------------------------------

@pytest.mark.parametrize("ph, fires", [("2.9", True), ("3.0", False), ("5.0", False), ("9.0", False), ("9.1", True), ("14", True)])
def test_a_target_ph_outside_3_to_9_is_an_error_for_a_topical(ph, fires):
    result = run(prep(target_ph=D(ph)))
    assert ("PH_NOT_TOPICAL" in codes(result)) is fires
    if fires:
        assert finding(result, "PH_NOT_TOPICAL").severity == "error" and not result.ok


def test_an_anhydrous_base_has_no_ph_to_judge():
    assert "PH_NOT_TOPICAL" not in codes(run(prep(base="ointment-base", target_ph=D(14))))


@pytest.mark.parametrize("directions, fires", [("", True), ("   ", True), ("Apply nightly.", False), (None, False)])
def test_empty_directions_are_an_error(directions, fires):
    result = run(prep(directions=directions))
    assert ("DIRECTIONS_MISSING" in codes(result)) is fires
    if fires:
        assert finding(result, "DIRECTIONS_MISSING").severity == "error"


def test_every_code_the_engine_can_report_has_a_title_and_a_reason():
    import inspect
    import re

    from orders.rules import engine
    from orders.rules.titles import RULE_TEXT

    reported = set(re.findall(r'"([A-Z][A-Z_]{4,})"', inspect.getsource(engine)))
    reported -= {"RULES_VERSION"}
    assert reported - set(RULE_TEXT) == set()
    assert all(title and reason and (title[0].isupper() or title.startswith("pH")) and "_" not in title
               for title, reason in RULE_TEXT.values())
