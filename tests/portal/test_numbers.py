"""Numbers as people write them: one helper, one set of template filters."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from portal.numbers import NumberProblem, percent_text, plain_number, quantity_text, read_number


@pytest.mark.parametrize("value, shown", [
    (Decimal("5E+1"), "50"), (Decimal("50.000"), "50"), (0.5, "0.5"), ("0.50", "0.5"), (Decimal("1E-4"), "0.0001"),
    (Decimal("100"), "100"), (Decimal("1.2300"), "1.23"), (None, ""), ("", ""), (Decimal("-0.0"), "0"),
])
def test_plain_number_never_shows_exponents_or_trailing_zeros(value, shown):
    assert plain_number(value) == shown


def test_quantity_and_percent_read_as_written():
    assert quantity_text(Decimal("5E+1"), "g") == "50 g"
    assert quantity_text(Decimal("100.000"), "mL") == "100 mL"
    assert percent_text(Decimal("0.5000")) == "0.5 %"
    assert percent_text(None) == ""


def test_template_filters():
    text = Template("{% load numbers %}{{ q|qty:u }} · {{ p|pct }} · {{ n|num }}").render(
        Context({"q": Decimal("5E+1"), "u": "g", "p": 0.5, "n": Decimal("12.500")}))
    assert text == "50 g · 0.5 % · 12.5"


def test_the_day_filter_writes_the_portal_date():
    import datetime as dt

    text = Template("{% load numbers %}{{ a|day }} · {{ b|day }} · {{ c|day }}").render(
        Context({"a": "2026-12-15", "b": dt.date(2027, 1, 5), "c": "soon"}))
    assert text == "Dec 15, 2026 · Jan 5, 2027 · soon"


@pytest.mark.parametrize("typed, read", [("5", "5"), ("5%", "5"), ("5 %", "5"), (" 0.5 % ", "0.5"), (".5", "0.5"), ("", "")])
def test_strength_accepts_how_people_type_it(typed, read):
    assert read_number(typed, what="Strength", units=("%",), example="0.5") == read


@pytest.mark.parametrize("typed, words", [
    ("fifty", "Write the quantity as a number, such as 50."),
    ("5E+1", "Write the quantity as a number, such as 50."),
    ("30 kg", "Quantity is in g, not kg."),
    ("0,5", "Write the quantity with a point for decimals, such as 0.5."),
])
def test_quantity_refuses_in_words(typed, words):
    with pytest.raises(NumberProblem) as caught:
        read_number(typed, what="Quantity", units=("g",), example="50")
    assert str(caught.value) == words


def test_quantity_takes_its_unit():
    assert read_number("30 g", what="Quantity", units=("g",)) == "30"
    assert read_number("100 ml", what="Quantity", units=("mL",)) == "100"
