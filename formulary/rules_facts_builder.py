"""Builds the rules engine's facts (orders/rules/facts.py) from the database: the formulary, usable
lots, licences, and the rules version they make. The engine itself stays pure; this is its only
way in to the data.

The formulary's facts are cached per process and keyed on the formulary revision, so a
validation on every keystroke costs one small query for the formulary, not dozens.
"""

from __future__ import annotations

import datetime as dt
import threading

from formulary import selectors as formulary_selectors
from formulary.interchange import formulary_export
from formulary.models import FormularyState
from orders.rules.engine import RULES_VERSION
from orders.rules.facts import FormularyFacts, Licence, Lot
from orders.rules.from_json import facts_from_json

_cache_lock = threading.Lock()
_cache: dict = {"key": None, "facts": None}


def formulary_facts() -> FormularyFacts:
    """The active formulary as plain data; reloaded only when its revision changes."""
    state = FormularyState.objects.only("version", "revision").first()
    key = (state.pk, state.version, state.revision) if state else None
    with _cache_lock:
        if _cache["key"] == key and _cache["facts"] is not None:
            return _cache["facts"]
    facts = facts_from_json(formulary_export(), version=state.label if state else "empty")
    with _cache_lock:
        _cache["key"], _cache["facts"] = key, facts
    return facts


def formulary_facts_forget() -> None:
    """Drop the cached facts (tests that edit formulary rows directly, without a revision bump)."""
    with _cache_lock:
        _cache["key"], _cache["facts"] = None, None


def rules_version(facts: FormularyFacts) -> str:
    return f"rules {RULES_VERSION}; formulary {facts.version}"


def lots_for(*, material_codes, base_codes, on: dt.date) -> tuple[Lot, ...]:
    """The usable lots (formulary.selectors.usable_lots, first to expire first) as the engine's Lots: only the four
    columns it reads, as tuples (no StockLot, Material and Base instances per lot; the validate endpoint reads this
    on every keystroke)."""
    rows = formulary_selectors.usable_lots(material_codes=list(material_codes), base_codes=list(base_codes), on=on).values_list(
        "material__code", "base__code", "lot_number", "expires_on", "quantity_on_hand")
    return tuple(Lot(item_code=material or base, lot_number=number, expires_on=expires, quantity_on_hand=on_hand)
                 for material, base, number, expires, on_hand in rows)


def licences_of(queryset) -> tuple[Licence, ...]:
    return tuple(Licence(state=state, expires_on=expires) for state, expires in queryset.values_list("state", "expires_on"))
