"""The order page's form ⇄ the API's order body.

The page posts flat fields (prep-0-base, prep-0-ing-1-percent, …); this module turns them into
the same body the API takes, so the page is checked by exactly the code the API uses, and
turns a saved draft body back into rows for the template."""

from __future__ import annotations

import re

from django.http import QueryDict

from portal.numbers import NumberProblem, plain_number, read_number

MAX_PREPARATIONS = 20
MAX_INGREDIENTS = 50
DIRECTIONS_MAX = 1000  # OrderBodySerializer's directions


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
            "directions": post.get(prefix + "directions", ""),  # as typed: over DIRECTIONS_MAX is refused, never cut
            "refills": post.get(prefix + "refills", "0").strip() or "0",
            "refill_interval_days": post.get(prefix + "refill_interval_days", "").strip() or None,
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


def body_for_check(body: dict, facts=None, withdrawn: dict[str, str] | None = None) -> tuple[dict, list[dict]]:
    """The body as the serializer should judge it, and the page's own problems in words.

    Blank ingredient rows are still being typed and are left out. Numbers are read as people type
    them ("5 %", "30 g"); a name typed for an ingredient becomes its code when it means one material.
    A problem is {"prep", "field" (the form's field name), "message"}; its field keeps what was typed,
    so the serializer refuses it too and the order cannot be signed."""
    from orders.ingredients import ingredient_resolve

    problems: list[dict] = []
    preparations = []
    for p, prep in enumerate(body.get("preparations", [])):
        prep = dict(prep)
        units = (prep.get("unit") or "g",)
        for field, what, allowed, example in (("quantity", "Quantity", units, "50"), ("target_ph", "Target pH", (), "5.5")):
            if prep.get(field) in (None, ""):
                prep.pop(field, None)  # missing, not "not a number"
            else:
                try:
                    prep[field] = read_number(prep[field], what=what, units=allowed, example=example)
                except NumberProblem as exc:
                    problems.append({"prep": p, "field": f"prep-{p}-{field}", "message": str(exc)})
        directions = str(prep.get("directions") or "")
        if len(directions) > DIRECTIONS_MAX:
            problems.append({"prep": p, "field": f"prep-{p}-directions",
                             "message": f"At most {DIRECTIONS_MAX} characters (this has {len(directions)})."})
        lines = []
        for i, line in enumerate(prep.get("ingredients", [])):
            typed, percent = str(line.get("ingredient") or "").strip(), line.get("percent")
            if not typed and not percent:
                continue
            line = {"ingredient": typed, "percent": percent}
            if percent in (None, ""):
                del line["percent"]
            else:
                try:
                    line["percent"] = read_number(percent, what="Strength", units=("%",), example="0.5")
                except NumberProblem as exc:
                    problems.append({"prep": p, "field": f"prep-{p}-ing-{i}-percent", "message": str(exc)})
            if typed in (withdrawn or {}):
                problems.append({"prep": p, "field": f"prep-{p}-ing-{i}-code", "withdrawn": True,
                                 "message": f"{withdrawn[typed]} was withdrawn from the formulary: choose another ingredient "
                                            "or remove this line."})
                continue
            if typed and facts is not None:
                found = ingredient_resolve(typed, facts)
                if found.code is None:
                    problems.append({"prep": p, "field": f"prep-{p}-ing-{i}-code", "message": found.problem,
                                     "candidates": found.candidates})
                    continue  # not sent to the rules: they would only say "unknown code"
                line["ingredient"] = found.code
            line["_row"] = i
            lines.append(line)
        prep["ingredients"] = lines
        preparations.append(prep)
    checked = {**body, "preparations": preparations}
    return {k: v for k, v in checked.items() if v not in (None, "")}, problems


def resolve_names(body: dict, facts) -> dict:
    """Ingredient names typed on the page become their codes when they mean one material (the draft
    and favourites keep codes, as the API does); anything else stays as typed, to be explained."""
    from orders.ingredients import ingredient_resolve

    for prep in body.get("preparations", []):
        for line in prep.get("ingredients", []):
            found = ingredient_resolve(str(line.get("ingredient") or ""), facts)
            if found.code:
                line["ingredient"] = found.code
    return body


def tidy_numbers(body: dict) -> dict:
    """Numbers typed with their own unit ("30 g", "4 %") are kept as the number alone, so the draft and the
    review page the prescriber signs never read "30 g g" or "4 % %". Anything that does not read as a number
    in the right unit stays as typed, to be explained beside its field."""
    for prep in body.get("preparations", []):
        value = prep.get("quantity")
        if value not in (None, ""):
            try:
                prep["quantity"] = read_number(value, what="Quantity", units=(prep.get("unit") or "g",))
            except NumberProblem:
                pass
        for line in prep.get("ingredients", []):
            if line.get("percent") not in (None, ""):
                try:
                    line["percent"] = read_number(line["percent"], what="Strength", units=("%",))
                except NumberProblem:
                    pass
    return body


def field_names(body: dict) -> list[str]:
    """Every form field that can carry an error, for the page's error slots."""
    names = []
    for p, prep in enumerate(body.get("preparations", [])):
        names += [f"prep-{p}-{f}" for f in ("base", "quantity", "route", "target_ph", "directions", "refills",
                                                        "refill_interval_days")]
        for i, _line in enumerate(prep.get("ingredients", [])):
            names += [f"prep-{p}-ing-{i}-code", f"prep-{p}-ing-{i}-percent"]
    return names


def strip_rows(body: dict) -> dict:
    """The checked body without the page's row numbers, as the serializer takes it."""
    return {**body, "preparations": [
        {**prep, "ingredients": [{k: v for k, v in line.items() if k != "_row"} for line in prep.get("ingredients", [])]}
        for prep in body.get("preparations", [])
    ]}


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


_LABELS = {"quantity": "Quantity", "target_ph": "Target pH", "water_activity": "Water activity", "refills": "Refills",
           "refill_interval_days": "Refill every (days)",
           "base": "Base", "percent": "Strength", "ingredient": "Ingredient", "route": "Route", "directions": "Directions"}

_REQUIRED = {"base": "Choose a base.", "quantity": "Enter the quantity, such as 50.", "percent": "Enter the strength, such as 0.5.",
             "ingredient": "Choose the ingredient.", "refills": "Enter the number of refills (0 to 11)."}


def plain_message(field: str, message: str) -> str:
    """DRF's developer words ("Ensure this value is greater than or equal to 0.0001.") in plain ones."""
    label = _LABELS.get(field, field.replace("_", " ").capitalize())
    if message in ("This field may not be blank.", "This field is required.", "This field may not be null."):
        return _REQUIRED.get(field, f"{label} is needed.")
    if message in ("A valid number is required.", "A valid integer is required."):
        return f"Write the {label.lower()} as a number."
    bound = re.match(r"Ensure this value is (greater|less) than or equal to (.+)\.$", message)
    if bound:
        limit = plain_number(bound.group(2))
        if bound.group(1) == "greater":
            return f"The {label.lower()} must be more than 0." if field in ("percent", "quantity") else \
                f"The {label.lower()} must be at least {limit}."
        unit = " %" if field == "percent" else ""
        return f"The {label.lower()} can be at most {limit}{unit}."
    places = re.match(r"Ensure that there are no more than (\d+) decimal places\.$", message)
    if places:
        return f"Use at most {places.group(1)} decimal places for the {label.lower()}."
    digits = re.match(r"Ensure that there are no more than (\d+) digits", message)
    if digits:
        return f"The {label.lower()} is too large."
    return message


def field_errors_by_preparation(errors: dict, rows: dict[int, list[int]] | None = None) -> tuple[list[str], dict[int, list[dict]]]:
    """DRF's nested errors → (order-level messages, {preparation index: [{"field", "message"}]}) in plain
    words; "field" is the form's field name (`rows` maps a checked ingredient line back to its row)."""
    general: list[str] = []
    per_prep: dict[int, list[dict]] = {}

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

    for path, message in flatten(errors, []):
        if len(path) >= 2 and path[0] == "preparations" and path[1].isdigit():
            index = int(path[1])
            rest = path[2:]
            if rest[:1] == ["ingredients"] and len(rest) >= 3 and rest[1].isdigit():
                row = (rows or {}).get(index, [])
                line = row[int(rest[1])] if int(rest[1]) < len(row) else int(rest[1])
                kind = "code" if rest[2] == "ingredient" else rest[2]
                text = f"Ingredient line {line + 1}: {plain_message(rest[2], message)}"
                field = f"prep-{index}-ing-{line}-{kind}"
            else:
                name = rest[-1] if rest else ""
                text = plain_message(name, message) if name in _LABELS else f"{_LABELS.get(name, name or 'Preparation')}: {message}"
                field = f"prep-{index}-{name}" if name else ""
            per_prep.setdefault(index, []).append({"field": field, "message": text})
        else:
            general.append(f"{_LABELS.get(path[-1], path[-1]) if path else 'Order'}: {message}")
    return general, per_prep
