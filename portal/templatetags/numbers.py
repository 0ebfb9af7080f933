"""Template filters for numbers as people write them: {{ p.quantity|qty:p.unit }} → "50 g",
{{ line.percent|pct }} → "0.5 %", {{ value|num }} → "12.5"; and {{ "2026-09-07"|day }} → "Sep 7, 2026", the portal's
date for people, for a date that arrives as ISO text (the rules engine's answer). See portal/numbers.py."""

import datetime as dt

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


@register.filter
def day(value):
    """A date, or a YYYY-MM-DD string, as "Sep 7, 2026"; anything else as it is."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, dt.date):
        return f"{value:%b} {value.day}, {value.year}"
    return value
