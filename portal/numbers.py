"""Numbers as people write them: "50 g", "100 mL", "0.5 %" (never "5E+1" or "50.000"), and reading
them back the way people type them ("5", "5%", "5 %", "30 g").

One helper for pages, PDFs and emails (the template filters in portal/templatetags/numbers.py call
these), so a quantity reads the same on the form, the review the prescriber signs and the order."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Plain decimals only: digits with an optional point; no exponent, no words, no thousands commas.
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def plain_number(value, places: int | None = None) -> str:
    """A number without exponent or trailing zeros: Decimal("5E+1") → "50", 0.50 → "0.5", 12.000 → "12".
    None and "" give ""; anything that is not a number is returned as it was given."""
    if value is None or value == "":
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if places is not None:
        number = round(number, places)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def quantity_text(value, unit: str = "") -> str:
    """"50 g", "100 mL"."""
    number = plain_number(value)
    if not number:
        return ""
    return f"{number} {unit}".strip()


def percent_text(value) -> str:
    """"0.5 %"."""
    number = plain_number(value)
    return f"{number} %" if number else ""


class NumberProblem(ValueError):
    """What is wrong with a typed number, in words for the person who typed it."""


def read_number(raw, *, what: str, units: tuple[str, ...] = (), example: str = "5") -> str:
    """The typed text as a plain decimal string ("5 %" → "5", "30 g" → "30"), or NumberProblem.

    `units` are the suffixes allowed after the number (compared without case: "%", "g", "mL")."""
    text = str(raw or "").strip()
    if not text:
        return ""
    match = re.match(r"^(?P<number>.*?)\s*(?P<unit>[a-zA-Zµ%]+)?$", text)
    number, unit = match.group("number"), match.group("unit")
    if unit and number and re.match(r"^[\d.,]+$", number):
        if unit.lower() not in {u.lower() for u in units}:
            allowed = " or ".join(units) if units else "a plain number"
            raise NumberProblem(f"{what} is in {allowed}, not {unit}.")
        text = number
    if re.match(r"^\d+,\d+$", text):
        raise NumberProblem(f"Write the {what.lower()} with a point for decimals, such as {text.replace(',', '.')}.")
    if not _PLAIN.match(text):
        raise NumberProblem(f"Write the {what.lower()} as a number, such as {example}.")
    return plain_number(Decimal(text))


def day_text(value) -> str:
    """A date as people read it everywhere in the portal: "Sep 7, 2026" (the templates' "M j, Y")."""
    return f"{value:%b} {value.day}, {value.year}"


def moment_text(value) -> str:
    """A moment in the pharmacy's time, as the portal writes it in words: "Dec 1, 2026 10:38 EST" (the API's machine
    times are its ISO `*_at` fields). None gives ""."""
    if value is None:
        return ""
    from django.utils import timezone

    local = timezone.localtime(value)
    return f"{day_text(local)} {local:%H:%M %Z}"
