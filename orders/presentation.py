"""What people read about a preparation where they sign, verify, compound or label it: allergies, what it
is free of, route, quantity, base and ingredients, by name. One helper, so every page and PDF says the same."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from formulary.models import AllergenGroup
from formulary.routes import route_name
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
           directions: str = "", changed: frozenset = frozenset()) -> dict:
    return {
        "changed": changed,
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


def _ingredient_percents(lines) -> dict[str, str]:
    return {line.get("name") or line.get("ingredient", ""): percent_text(line.get("percent")) for line in lines or []}


def _compare(before: dict, prep) -> tuple[list[str], set[str]]:
    """What changed in one preparation between two versions: sentences, and the summary lines to mark."""
    changes, marked = [], set()

    def differ(key: str, label: str, old: str, new: str) -> None:
        if old != new:
            changes.append(f"{label}: {old or 'none'} → {new or 'none'}")
            marked.add(key)

    differ("base", "Base", before.get("base_name", ""), prep.base_name)
    differ("quantity", "Quantity", quantity_text(before.get("quantity", ""), before.get("unit", "")), quantity_text(prep.quantity, prep.unit))
    differ("route", "Route", route_name(before.get("route", "")), route_name(prep.route))
    differ("directions", "Directions", before.get("directions", ""), prep.directions)
    differ("free_of", "Free of", ", ".join(free_of(before.get("exclusions"))), ", ".join(free_of(prep.exclusions)))
    old_ph = before.get("target_ph")
    new_ph = f"{prep.target_ph.normalize():f}" if prep.target_ph is not None else None
    if (old_ph or None) != new_ph:
        changes.append(f"Target pH: {old_ph or 'none'} → {new_ph or 'none'}")
    if int(before.get("refills") or 0) != prep.refills:
        changes.append(f"Refills: {before.get('refills') or 0} → {prep.refills}")
    old, new = _ingredient_percents(before.get("ingredients")), _ingredient_percents(prep.ingredients)
    for name in new:
        if name not in old:
            changes.append(f"Added: {name} {new[name]}")
        elif old[name] != new[name]:
            changes.append(f"{name}: {old[name]} → {new[name]}")
    changes += [f"Removed: {name} {old[name]}" for name in old if name not in new]
    if old != new:
        marked.add("ingredients")
    return changes, marked


def amendment_changes(order) -> dict | None:
    """The latest version against the one before it, for the pharmacist: per preparation position, the changes
    in words and which summary lines to mark; None when the order was never amended."""
    amendment = order.amendments.order_by("-version").first()
    if amendment is None:
        return None
    previous = {p["position"]: p for p in amendment.previous}
    current = list(order.preparations.all())
    preps = {}
    for prep in current:
        before = previous.get(prep.position)
        preps[prep.position] = (["New in this version."], {"base", "quantity", "route", "ingredients", "directions", "free_of"}) \
            if before is None else _compare(before, prep)
    removed = [f"Preparation {p['position']} ({p['base_name']}) was removed." for pos, p in previous.items()
               if pos not in {prep.position for prep in current}]
    return {"version": amendment.version, "note": amendment.note, "by": amendment.by, "at": amendment.created_at, "preps": preps,
            "removed": removed}


def preparation_view_amended(prep, changes: dict | None) -> dict:
    view = preparation_view(prep)
    if changes is not None:
        lines, marked = changes["preps"].get(prep.position, ([], set()))
        view["changes"] = lines
        view["safety"]["changed"] = frozenset(marked)
    return view
