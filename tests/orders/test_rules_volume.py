"""Preparations made in mL are weighed in grams with the base's density; EU rinse-off maxima; a
pharmacist's beyond-use date (the pure parts: no database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from orders.rules.dating import assigned_bud_problems, beyond_use
from orders.rules.facts import Lot
from portal.numbers import day_text
from tests.orders.test_rules_engine import FACTS, TODAY, codes, finding, prep, run

CENT = D("0.01")


def grams(value: D) -> D:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line(result, code):
    return next(w for w in result.weighings if w.item_code == code)


# --- Millilitre preparations ----------------------------------------------------------------

def test_a_100_ml_shampoo_is_a_batch_in_grams_split_by_the_shares():
    density = FACTS.bases["shampoo-base-capb"].density
    assert density == D("1.02")
    result = run(prep(base="shampoo-base-capb", quantity="100", ingredients=[("zinc-pyrithione", 1), ("panthenol", "0.5")]))
    batch = grams(D(100) * density * D("1.05"))  # volume × density × (1 + overage)
    assert result.batch_quantity == batch == D("107.10")
    assert result.batch_volume == D("105.00") and result.density == density
    assert line(result, "zinc-pyrithione").quantity == grams(batch * D("0.01")) == D("1.07")
    assert line(result, "panthenol").quantity == grams(batch * D("0.005")) == D("0.54")
    base = line(result, "shampoo-base-capb")
    assert base.quantity == batch - D("1.07") - D("0.54") == D("105.49")
    assert base.millilitres == grams(base.quantity / density)  # what the base lot gives, in mL
    assert line(result, "panthenol").millilitres == grams(D("0.54") / FACTS.materials["panthenol"].density)  # a liquid
    assert line(result, "zinc-pyrithione").millilitres is None  # a powder is only weighed
    assert sum(w.quantity for w in result.weighings) == result.batch_quantity


def test_a_lighter_base_weighs_less_than_its_volume():
    result = run(prep(base="conditioner-base", quantity="200"))
    assert result.batch_quantity == grams(D(200) * D("0.991") * D("1.05")) == D("208.11")


def test_gram_preparations_are_unchanged():
    result = run(prep(quantity="50", ingredients=[("niacinamide", 4), ("panthenol", 2)], target_ph=D(6)))
    assert result.density is None and result.batch_volume is None
    assert result.batch_quantity == D("52.50") and line(result, "niacinamide").quantity == D("2.10")
    assert line(result, "cream-base-pf").millilitres is None


def test_an_ml_base_without_a_density_keeps_the_old_arithmetic():
    """Facts from a formulary file that predates densities: weighed as if 1 g/mL, as before."""
    bare = replace(FACTS, bases={**FACTS.bases, "shampoo-base-gentle": replace(FACTS.bases["shampoo-base-gentle"], density=None)})
    from orders.rules import evaluate
    from tests.orders.test_rules_engine import CONTEXT

    result = evaluate(prep(base="shampoo-base-gentle", quantity="100"), bare, CONTEXT, today=TODAY)
    assert result.batch_quantity == D("105.00") and result.density is None


def _with_basis(code, basis, density=None):
    material = replace(FACTS.materials[code], strength_basis=basis, **({"density": density} if density else {}))
    return replace(FACTS, materials={**FACTS.materials, code: material})


def test_percent_w_v_and_v_v_become_w_w_in_an_ml_preparation():
    from orders.rules import evaluate
    from tests.orders.test_rules_engine import CONTEXT

    # 2 % w/v glycerin in a 1.02 g/mL shampoo: 2 g per 100 mL = 2 / 1.02 % w/w
    wv = evaluate(prep(base="shampoo-base-capb", quantity="100", ingredients=[("glycerin", 2)]), _with_basis("glycerin", "w/v"),
                  CONTEXT, today=TODAY)
    assert wv.shares["glycerin"] == D(2) / D("1.02")
    assert line(wv, "glycerin").quantity == D("2.10")  # 2 g per 100 mL of a 105 mL batch
    # 1 % v/v phenoxyethanol (1.102 g/mL): 1 mL per 100 mL = 1.102 / 1.02 % w/w
    vv = evaluate(prep(base="shampoo-base-capb", quantity="100", ingredients=[("phenoxyethanol", 1)]),
                  _with_basis("phenoxyethanol", "v/v"), CONTEXT, today=TODAY)
    assert vv.shares["phenoxyethanol"] == D("1.102") / D("1.02")
    assert line(vv, "phenoxyethanol").millilitres == D("1.05")  # 1 mL per 100 mL of a 105 mL batch
    # and above 1 % w/w it now counts against the rinse-off maximum
    assert "EXCEEDS_EU_RINSE_OFF_LIMIT" in codes(vv)
    # in a gram preparation the declaration does not apply: strengths are w/w
    cream = evaluate(prep(ingredients=[("glycerin", 2)]), _with_basis("glycerin", "w/v"), CONTEXT, today=TODAY)
    assert cream.shares["glycerin"] == D(2)


# --- EU rinse-off maxima ---------------------------------------------------------------------

@pytest.mark.parametrize("percent, fires", [("0.99", False), ("1.0", False), ("1.01", True), ("1.5", True)])
def test_phenoxyethanol_in_a_rinse_off_preparation(percent, fires):
    result = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("phenoxyethanol", percent)], target_ph=D(5)))
    assert ("EXCEEDS_EU_RINSE_OFF_LIMIT" in codes(result)) is fires
    if fires:
        f = finding(result, "EXCEEDS_EU_RINSE_OFF_LIMIT")
        assert f.severity == "warning" and f.substance == "phenoxyethanol"
        assert f.message == (f"Phenoxyethanol at {D(percent).normalize():f} % is above the EU maximum of 1 % for rinse-off products. "
                             "Lower its strength or choose another preservative.")


def test_rinse_off_limits_are_not_leave_on_limits():
    # sodium benzoate: 2.5 % (as acid) rinse-off, 0.5 % leave-on; 1 % = 0.847 % as acid
    shampoo = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("sodium-benzoate", 1)], target_ph=D(5)))
    assert "EXCEEDS_EU_RINSE_OFF_LIMIT" not in codes(shampoo) and "EXCEEDS_EU_LEAVE_ON_LIMIT" not in codes(shampoo)
    cream = run(prep(ingredients=[("sodium-benzoate", 1)], target_ph=D(5)))
    assert "EXCEEDS_EU_LEAVE_ON_LIMIT" in codes(cream) and "EXCEEDS_EU_RINSE_OFF_LIMIT" not in codes(cream)
    # the plain bases, with their own preservatives, are inside every rinse-off maximum
    for base in ("shampoo-base-capb", "shampoo-base-gentle", "conditioner-base"):
        assert "EXCEEDS_EU_RINSE_OFF_LIMIT" not in codes(run(prep(base=base, quantity="100")))


def test_rinse_off_sum_group_of_propyl_and_butyl_parabens():
    over = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("propylparaben", "0.1"), ("butylparaben", "0.05")]))
    sums = [f for f in over.findings if f.code == "EXCEEDS_EU_RINSE_OFF_LIMIT"]
    assert len(sums) == 1 and sums[0].message.startswith("Together the propyl butyl parabens come to 0.15 %")
    at = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("propylparaben", "0.07"), ("butylparaben", "0.07")]))
    assert "EXCEEDS_EU_RINSE_OFF_LIMIT" not in codes(at)


def test_isothiazolinone_above_its_rinse_off_maximum():
    result = run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("methylisothiazolinone", "0.002")]))
    assert finding(result, "EXCEEDS_EU_RINSE_OFF_LIMIT").substance == "methylisothiazolinone"
    assert "EXCEEDS_EU_RINSE_OFF_LIMIT" not in codes(
        run(prep(base="shampoo-base-gentle", quantity="100", ingredients=[("methylisothiazolinone", "0.0015")])))


# --- A pharmacist's beyond-use date ---------------------------------------------------------

LOTS = (Lot("pe9010", "PE-1", TODAY + dt.timedelta(days=90), D(500)), Lot("cream-base-pe", "CB-1", TODAY + dt.timedelta(days=400), D(5000)))


def _problems(**kw):
    args = {"days": 60, "citation": "Allen LV, Int J Pharm Compd 2024;28:12", "reason": "Stability-indicating HPLC study of this formula",
            "start": TODAY, "table_days": 35, "lots": LOTS} | kw
    return [(p.field, p.message) for p in assigned_bud_problems(**args)]


def test_a_cited_longer_or_shorter_period_is_accepted():
    assert _problems() == []
    assert _problems(days=10) == []  # shorter (an unstable active)
    assert _problems(days=90) == []  # exactly the earliest lot's expiry


def test_never_past_the_earliest_lot():
    problems = _problems(days=91, names={"pe9010": "Phenoxyethanol/ethylhexylglycerin"})
    message = (f"Lot PE-1 of Phenoxyethanol/ethylhexylglycerin expires {day_text(TODAY + dt.timedelta(days=90))}, before "  # as people read dates
               f"{day_text(TODAY + dt.timedelta(days=91))} (91 days from {day_text(TODAY)}): a beyond-use "
               "date is never later than the expiry of a component.")
    assert problems == [("days", message)]


@pytest.mark.parametrize("change, field", [({"citation": "  "}, "citation"), ({"reason": ""}, "reason"), ({"days": 0}, "days"),
                                           ({"days": None}, "days"), ({"days": 731}, "days"), ({"days": 35}, "days")])
def test_bad_assignments_are_refused(change, field):
    assert field in {f for f, _ in _problems(**change)}


def test_the_label_date_keeps_the_table_date_beside_it_and_never_passes_a_lot():
    dating = beyond_use(compounded_on=TODAY, table_days=35, assigned_days=60)
    assert dating.date == TODAY + dt.timedelta(days=60) and dating.table_date == TODAY + dt.timedelta(days=35) and dating.assigned
    capped = beyond_use(compounded_on=TODAY, table_days=35, assigned_days=60, lot_expiries=[TODAY + dt.timedelta(days=50)])
    assert capped.date == TODAY + dt.timedelta(days=50) and capped.limited_by_lot == capped.date
    plain = beyond_use(compounded_on=TODAY, table_days=35, assigned_days=None)
    assert plain.date == plain.table_date and not plain.assigned
