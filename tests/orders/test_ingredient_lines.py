"""The ingredient lines are checked by a plain function (orders.api_validate.ingredient_lines_clean) instead of a
DRF serializer per line (issue 22). A body that one accepts and the other refuses would be a defect, so the
old path (ListField of IngredientLineSerializer) and the new one (IngredientListField) get the same random
bodies, well-formed and not, and must give the same cleaned lines or the same errors, word for word."""

from __future__ import annotations

import decimal
import math
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from orders.api_validate import MAX_INGREDIENTS, IngredientLineSerializer, IngredientListField, PreparationSerializer, ingredient_lines_clean


def old_field():
    return serializers.ListField(child=IngredientLineSerializer(), max_length=MAX_INGREDIENTS, required=False, default=list)


def new_field():
    return IngredientListField(child=IngredientLineSerializer(), max_length=MAX_INGREDIENTS, required=False, default=list)


class OldPreparationSerializer(PreparationSerializer):
    ingredients = old_field()


def outcome(run):
    """('ok', cleaned) or ('refused', DRF's error detail as plain data, with each message's code)."""
    try:
        return "ok", run()
    except serializers.ValidationError as exc:
        return "refused", _plain(exc.detail)


def _plain(detail):
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail), getattr(detail, "code", None)


def _same(a, b) -> bool:
    """Equal, with Decimals compared by value and exponent (4 places both sides) and NaN never reaching here."""
    return a == b and repr(a) == repr(b)


codes = st.one_of(
    st.sampled_from(["niacinamide", "pe9010", "azelaic-acid", "  niacinamide  ", "", "   ", "x" * 60, "x" * 61, " " + "y" * 60 + " ",
                     "nia\x00cin", "café", "\ud800", "ni acin"]),
    st.text(max_size=70),
    st.integers(min_value=-10**3, max_value=10**3), st.booleans(), st.none(), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
percents = st.one_of(
    st.integers(min_value=-5, max_value=200), st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=10**999, max_value=10**1001),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=101),
    st.integers(0, 6).flatmap(lambda places: st.decimals(min_value=decimal.Decimal("-1"), max_value=decimal.Decimal("101"),
                                                        allow_nan=False, places=places)).map(str),
    st.integers(0, 6).flatmap(lambda places: st.decimals(min_value=decimal.Decimal("-1"), max_value=decimal.Decimal("101"),
                                                        allow_nan=False, places=places)).map(float),
    st.integers(0, 6).flatmap(lambda places: st.decimals(min_value=decimal.Decimal("99990"), max_value=decimal.Decimal("100010"),
                                                        allow_nan=False, places=places)).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["4", " 4 ", "4.0000", "4.00001", "1e2", "1E-4", "0.0001", "0.00009", "100", "100.0001", "99999.9999", "abc", "",
                     " ", "NaN", "sNaN", "Infinity", "-inf", "1_000", "٤", "0x10", "+5", "-0", "00004.5", "5.", ".5", "1e-5", "1" * 1001]),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=2), st.just({"value": 1}),
)
lines = st.one_of(
    st.fixed_dictionaries({"ingredient": codes, "percent": percents}),
    st.fixed_dictionaries({"ingredient": codes, "percent": percents}, optional={"extra": st.integers(), "name": st.text(max_size=5)}),
    st.fixed_dictionaries({}, optional={"ingredient": codes, "percent": percents}),
    st.sampled_from([None, "niacinamide", 4, [], ["niacinamide", 4], True]),
)
# Lines whose ingredient is well formed, so that a body's percents reach the plain path (one odd line sends the
# whole list to the serializers).
plain_lines = st.fixed_dictionaries({"ingredient": st.sampled_from(["niacinamide", "pe9010", " azelaic-acid "]), "percent": percents})
bodies = st.one_of(
    st.lists(plain_lines, min_size=1, max_size=3),
    st.lists(plain_lines, min_size=1, max_size=3),
    st.lists(lines, max_size=6),
    st.lists(st.fixed_dictionaries({"ingredient": st.sampled_from(["niacinamide", "pe9010"]), "percent": st.integers(1, 10)}),
             min_size=MAX_INGREDIENTS - 1, max_size=MAX_INGREDIENTS + 2),
    st.sampled_from([None, "niacinamide", 4, {}, {"ingredient": "niacinamide", "percent": 4}, (), True]),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bodies)
def test_the_plain_validator_and_the_serializers_agree(data):
    old, new = outcome(lambda: old_field().run_validation(data)), outcome(lambda: new_field().run_validation(data))
    assert old[0] == new[0], (data, old, new)
    assert _same(old[1], new[1]), (data, old, new)


FACTS = SimpleNamespace(sterile_routes=frozenset(), non_sterile_routes=frozenset({"topical"}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.fixed_dictionaries({"base": st.sampled_from(["cream-base-pf", ""]), "quantity": st.sampled_from([50, "50", 0, "x"]),
                              "unit": st.sampled_from(["g", "mL", "kg"])}, optional={"ingredients": bodies}))
def test_a_preparation_is_accepted_or_refused_alike(prep):
    """The same through the whole preparation (the ingredient errors sit beside the other fields' errors)."""
    old = outcome(lambda: OldPreparationSerializer(context={"facts": FACTS}).run_validation(prep))
    new = outcome(lambda: PreparationSerializer(context={"facts": FACTS}).run_validation(prep))
    assert old[0] == new[0], (prep, old, new)
    assert _same(old[1], new[1]), (prep, old, new)


def test_the_plain_path_is_the_one_taken_for_ordinary_lines():
    """Well-formed lines never reach the nested serializer (else nothing was made faster)."""
    cleaned = ingredient_lines_clean([{"ingredient": " niacinamide ", "percent": 4}, {"ingredient": "pe9010", "percent": "0.5"},
                                      {"ingredient": "azelaic-acid", "percent": 9.75, "name": "ignored"}])
    assert cleaned == [{"ingredient": "niacinamide", "percent": decimal.Decimal("4.0000")},
                       {"ingredient": "pe9010", "percent": decimal.Decimal("0.5000")},
                       {"ingredient": "azelaic-acid", "percent": decimal.Decimal("9.7500")}]
    assert ingredient_lines_clean([{"ingredient": "niacinamide", "percent": math.inf}]) is None


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(["FRAGRANCE", "PARABENS", "TREE_NUTS", "fragrance", "NOT_A_GROUP", "", " FRAGRANCE",
                                           "FRAG\x00RANCE", "x" * 41]),
                          st.text(max_size=8), st.integers(), st.none()), max_size=6))
def test_allergen_groups_from_the_facts_agree_with_the_table(formulary, codes):
    """The allergen groups a body names (a preparation's exclusions, an inline patient's allergies) are checked against
    the request's formulary facts (issue 22: read once a request) where they were read from the table each time:
    through the same fields, both accept the same codes and refuse the same, in the same words."""
    from formulary.rules_facts_builder import formulary_facts
    from orders.api_validate import ExclusionsSerializer, PatientInlineSerializer

    facts = formulary_facts()
    for serializer, data in ((ExclusionsSerializer, {"allergen_groups": codes}), (PatientInlineSerializer, {"allergies": codes})):
        old = outcome(lambda: serializer(context={}).run_validation(data))  # no facts: the table, as before
        new = outcome(lambda: serializer(context={"facts": facts}).run_validation(data))
        assert old[0] == new[0], (codes, old, new)
        assert _same(old[1], new[1]), (codes, old, new)
