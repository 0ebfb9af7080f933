"""Template filters for numbers as people write them: {{ p.quantity|qty:p.unit }} → "50 g",
{{ line.percent|pct }} → "0.5 %", {{ value|num }} → "12.5". See portal/numbers.py."""

from django import template

from portal.numbers import percent_text, plain_number, quantity_text

register = template.Library()


@register.filter
def qty(value, unit=""):
    return quantity_text(value, unit or "")


@register.filter
def pct(value):
    return percent_text(value)


@register.filter
def num(value, places=None):
    return plain_number(value, int(places) if places not in (None, "") else None)
