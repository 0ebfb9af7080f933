"""The order page's form ⇄ the API's order body.

The page posts flat fields (prep-0-base, prep-0-ing-1-percent, …); this module turns them into
the same body the API takes, so the page is checked by exactly the code the API uses, and
turns a saved draft body back into rows for the template."""

from __future__ import annotations

from django.http import QueryDict

MAX_PREPARATIONS = 20
MAX_INGREDIENTS = 50


def _int(raw, default=0, low=0, high=1000) -> int:
    try:
        return max(low, min(high, int(raw)))
    except (TypeError, ValueError):
        return default


def body_from_post(post: QueryDict, *, units: dict[str, str]) -> dict:
    """The order body from the page's fields. Values stay as typed: the serializer judges them."""
    body: dict = {
        "patient_id": post.get("patient", "").strip() or None,
        "encounter_state": post.get("encounter_state", "").strip() or None,
        "clinical_difference_note": post.get("clinical_difference_note", "")[:2000],
        "preparations": [],
    }
    for p in range(_int(post.get("prep_count"), 1, 1, MAX_PREPARATIONS)):
        prefix = f"prep-{p}-"
        base = post.get(prefix + "base", "").strip()
        prep = {
            "base": base,
            "quantity": post.get(prefix + "quantity", "").strip(),
            "unit": units.get(base, "g"),
            "route": post.get(prefix + "route", "topical").strip() or "topical",
            "target_ph": post.get(prefix + "target_ph", "").strip() or None,
            "water_activity": post.get(prefix + "water_activity", "").strip() or None,
            "directions": post.get(prefix + "directions", "")[:1000],
            "refills": post.get(prefix + "refills", "0").strip() or "0",
            "exclusions": {
                "allergen_groups": [c for c in post.getlist(prefix + "exclude") if c][:30],
                "preservative_free": post.get(prefix + "preservative_free") == "on",
            },
            "ingredients": [],
        }
        for i in range(_int(post.get(prefix + "ing_count"), 0, 0, MAX_INGREDIENTS)):
            code = post.get(f"{prefix}ing-{i}-code", "").strip()
            percent = post.get(f"{prefix}ing-{i}-percent", "").strip()
            prep["ingredients"].append({"ingredient": code, "percent": percent})
        body["preparations"].append(prep)
    return body


def body_for_check(body: dict) -> dict:
    """The body as the serializer should judge it: blank ingredient rows are still being typed."""
    checked = dict(body)
    checked["preparations"] = [
        {**prep, "ingredients": [line for line in prep.get("ingredients", []) if line.get("ingredient") or line.get("percent")]}
        for prep in body.get("preparations", [])
    ]
    return {k: v for k, v in checked.items() if v not in (None, "")}


def apply_action(body: dict, action: str, *, prefill_exclusions: list[str]) -> dict:
    """Add or remove a preparation or an ingredient row."""
    preps = body["preparations"]
    kind, _, rest = action.partition(":")
    parts = [_int(x, -1, -1) for x in rest.split(":")] if rest else []
    if kind == "add_prep" and len(preps) < MAX_PREPARATIONS:
        preps.append({"base": "", "quantity": "", "unit": "g", "route": "topical", "ingredients": [{"ingredient": "", "percent": ""}],
                      "exclusions": {"allergen_groups": list(prefill_exclusions), "preservative_free": False}})
    elif kind == "remove_prep" and len(preps) > 1 and 0 <= parts[0] < len(preps):
        preps.pop(parts[0])
    elif kind == "add_ing" and parts and 0 <= parts[0] < len(preps):
        lines = preps[parts[0]].setdefault("ingredients", [])
        if len(lines) < MAX_INGREDIENTS:
            lines.append({"ingredient": "", "percent": ""})
    elif kind == "remove_ing" and len(parts) == 2 and 0 <= parts[0] < len(preps):
        lines = preps[parts[0]].get("ingredients", [])
        if 0 <= parts[1] < len(lines):
            lines.pop(parts[1])
    return body


def field_errors_by_preparation(errors: dict) -> tuple[list[str], dict[int, list[str]]]:
    """DRF's nested errors → (order-level messages, {preparation index: messages}) in plain words."""
    general: list[str] = []
    per_prep: dict[int, list[str]] = {}

    def flatten(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from flatten(value, [*path, str(key)])
        elif isinstance(node, list):
            if node and all(isinstance(x, str) for x in node):
                for message in node:
                    yield path, message
            else:
                for index, value in enumerate(node):
                    yield from flatten(value, [*path, str(index)])
        else:
            yield path, str(node)

    labels = {"quantity": "Quantity", "target_ph": "Target pH", "water_activity": "Water activity", "refills": "Refills",
              "base": "Base", "percent": "Strength", "ingredient": "Ingredient", "route": "Route", "directions": "Directions"}
    for path, message in flatten(errors, []):
        if len(path) >= 2 and path[0] == "preparations" and path[1].isdigit():
            index = int(path[1])
            rest = path[2:]
            if rest[:1] == ["ingredients"] and len(rest) >= 3:
                where = f"Ingredient line {int(rest[1]) + 1}, {labels.get(rest[2], rest[2]).lower()}"
            else:
                where = labels.get(rest[-1], rest[-1]) if rest else "Preparation"
            per_prep.setdefault(index, []).append(f"{where}: {message}")
        else:
            general.append(f"{labels.get(path[-1], path[-1]) if path else 'Order'}: {message}")
    return general, per_prep
