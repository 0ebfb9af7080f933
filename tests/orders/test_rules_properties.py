"""Property-based tests of the engine over random valid formulas (hypothesis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders.rules import evaluate
from orders.rules.engine import BUD_DAYS
from orders.rules.facts import Lot
from tests.orders.test_rules_engine import CONTEXT, FACTS, TODAY, prep

HUNDRED = D(100)
BASES = sorted(FACTS.bases)
MATERIALS = sorted(FACTS.materials)


@st.composite
def formulas(draw, max_total=D(98)):
    base = draw(st.sampled_from(BASES))
    vehicle = FACTS.bases[base].vehicle
    usable = [c for c in MATERIALS if vehicle in FACTS.materials[c].vehicles]
    chosen = draw(st.lists(st.sampled_from(usable), unique=True, max_size=8)) if usable else []
    lines, total = [], D(0)
    for code in chosen:
        m = FACTS.materials[code]
        low, high = m.use_min_percent, m.use_max_percent
        steps = int((high - low) / D("0.01"))
        percent = low + D("0.01") * draw(st.integers(0, max(steps, 0)))
        share = percent / m.active_fraction
        if total + share > max_total:
            continue
        total += share
        lines.append((code, percent))
    b = FACTS.bases[base]
    qty = b.min_quantity + (b.max_quantity - b.min_quantity) * D(draw(st.integers(0, 100))) / HUNDRED
    ph = draw(st.sampled_from([None, D("4.5"), D("5.0"), D("5.5"), D("6.0")]))
    aw = draw(st.sampled_from([None, D("0.3"), D("0.59"), D("0.60"), D("0.9")]))
    return prep(base=base, ingredients=lines, quantity=str(qty.quantize(D("0.001"))), target_ph=ph, water_activity=aw)


@st.composite
def stock(draw):
    """One lot per item with a random expiry from yesterday to two years out."""
    lots = []
    for code in list(FACTS.materials) + list(FACTS.bases):
        days = draw(st.integers(-1, 730))
        lots.append(Lot(code, f"{code}-R", TODAY + dt.timedelta(days=days), D(100000)))
    return tuple(lots)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(formulas())
def test_shares_and_base_total_100(p):
    result = evaluate(p, FACTS, CONTEXT, today=TODAY)
    assert sum(result.shares.values(), D(0)) + result.base_percent == HUNDRED
    assert result.base_percent > 0


@FAST
@given(formulas())
def test_weighings_add_up_to_the_batch(p):
    result = evaluate(p, FACTS, CONTEXT, today=TODAY)
    assert sum(line.quantity for line in result.weighings) == result.batch_quantity
    assert result.batch_quantity >= p.quantity


@FAST
@given(formulas())
def test_substances_add_up_to_100(p):
    result = evaluate(p, FACTS, CONTEXT, today=TODAY)
    assert abs(sum(pct for _, pct in result.substances) - HUNDRED) < D("0.000001")


@FAST
@given(formulas(), stock())
def test_bud_never_exceeds_the_table_or_any_lot_used(p, lots):
    result = evaluate(p, FACTS, replace(CONTEXT, lots=lots), today=TODAY)
    assert result.beyond_use_days <= max(BUD_DAYS.values())
    table = BUD_DAYS["aqueous_preserved" if result.aqueous and result.preserved else "aqueous_nonpreserved" if result.aqueous else "nonaqueous_other"]
    assert result.beyond_use_days <= table
    for line in result.weighings:
        for lot in line.lots:
            assert lot.expires_on >= TODAY  # an expired lot is never used
            assert result.beyond_use_date <= lot.expires_on


@FAST
@given(formulas(max_total=D(97)))
def test_adding_a_qualifying_preservative_never_shortens_the_bud(p):
    at_working_ph = replace(p, target_ph=D("5.0"))
    before = evaluate(at_working_ph, FACTS, CONTEXT, today=TODAY)
    if any(line.code == "pe9010" for line in p.ingredients) or before.base_percent <= D("1.0"):
        return
    from orders.rules.facts import IngredientLine

    with_pe = replace(at_working_ph, ingredients=at_working_ph.ingredients + (IngredientLine("pe9010", D(1)),))
    after = evaluate(with_pe, FACTS, CONTEXT, today=TODAY)
    assert after.beyond_use_days >= before.beyond_use_days
    if after.aqueous and FACTS.bases[p.base].default_ph is not None:
        assert after.preserved


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=0, max_size=30),
    st.lists(st.tuples(st.text(max_size=20), st.decimals(min_value=D("0.0001"), max_value=D(100), places=4)), max_size=12),
    st.decimals(min_value=D("0.001"), max_value=D(100000), places=3),
)
def test_any_codes_and_numbers_give_findings_not_crashes(base, lines, quantity):
    p = prep(base=base, unit="g", quantity=str(quantity), ingredients=[(c, str(v)) for c, v in lines])
    result = evaluate(p, FACTS, CONTEXT, today=TODAY)
    assert all(f.severity in ("error", "warning") and f.message for f in result.findings)
