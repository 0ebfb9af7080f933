"""What people read about a preparation where they sign, verify, compound or label it: allergies, what it
is free of, route, quantity, base and ingredients, by name. One helper, so every page and PDF says the same."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from formulary.models import AllergenGroup
from orders.rules.titles import route_name
from orders.rules.titles import title as rule_title

PRESERVATIVES = "preservatives"


def quantity_text(quantity, unit: str) -> str:
    """'50 g', '0.5 g', '120 mL': as people write a quantity (never 5E+1)."""
    try:
        value = Decimal(str(quantity))
    except (InvalidOperation, ValueError):
        return f"{quantity} {unit}".strip()
    return f"{value.normalize():f} {unit}".strip()


def percent_text(percent) -> str:
    try:
        value = Decimal(str(percent))
    except (InvalidOperation, ValueError):
        return f"{percent} %"
    return f"{value.normalize():f} %"


def _group_names(codes) -> list[str]:
    codes = list(codes or [])
    names = dict(AllergenGroup.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}
    return [names.get(code, code.replace("_", " ").capitalize()) for code in codes]


def free_of(exclusions: dict | None) -> list[str]:
    exclusions = exclusions or {}
    names = _group_names(exclusions.get("allergen_groups"))
    if exclusions.get("preservative_free"):
        names.append(PRESERVATIVES)
    return names


def free_of_line(exclusions: dict | None) -> str:
    names = free_of(exclusions)
    return f"Free of: {', '.join(names)} · Do not substitute" if names else ""


def allergy_names(patient) -> list[str]:
    return [group.name for group in patient.allergies.all()] if patient is not None else []


def safety(*, patient, base: str, quantity, unit: str, route: str, ingredients: list[dict], exclusions: dict | None,
           directions: str = "") -> dict:
    return {
        "allergies": allergy_names(patient),
        "free_of": free_of(exclusions),
        "free_of_line": free_of_line(exclusions),
        "route": route_name(route),
        "quantity": quantity_text(quantity, unit),
        "base": base,
        "ingredients": [{"name": line.get("name") or line.get("ingredient", ""), "percent": percent_text(line.get("percent"))}
                        for line in ingredients if line.get("ingredient") or line.get("name")],
        "directions": directions,
    }


def preparation_safety(prep) -> dict:
    """The summary of a signed preparation (its snapshot) and the patient's allergies on file."""
    return safety(patient=prep.order.patient, base=prep.base_name, quantity=prep.quantity, unit=prep.unit, route=prep.route,
                  ingredients=prep.ingredients, exclusions=prep.exclusions, directions=prep.directions)


def titled(findings) -> list[dict]:
    """Findings as people read them: the rule's title first; the code stays for the pharmacy's small print."""
    return [{**finding, "title": finding.get("title") or rule_title(finding.get("code", ""))} for finding in findings or []]


def preparation_view(prep) -> dict:
    """A signed preparation for a page: itself, its safety summary, and its findings by title."""
    return {"prep": prep, "safety": preparation_safety(prep), "findings": titled(prep.checked.get("findings", []))}


def ship_to_text(order) -> str:
    lines = [order.ship_to_line1, order.ship_to_line2, order.ship_to_city, f"{order.ship_to_state} {order.ship_to_postal_code}".strip()]
    return ", ".join(part for part in lines if part)
