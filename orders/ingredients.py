"""Finding an ingredient by what the prescriber types: its name, a synonym or its code, in any case.

`ingredient_search` lists what matches as the prescriber types (the picker); `ingredient_resolve`
turns what was typed into one formulary code, or says why not in words: several match (and which),
or none does (and the nearest). Both read the formulary facts the rules engine reads (cached per
revision), so searching costs no query."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from orders.rules.facts import FormularyFacts, MaterialFacts
from portal.numbers import plain_number

# Names prescribers use that are in neither the material's name nor its INCI names.
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "niacinamide": ("vitamin b3", "nicotinamide"),
    "sodium-hyaluronate": ("hyaluronic acid", "ha"),
    "tocopherol": ("vitamin e",),
    "tocopherol-soy": ("vitamin e",),
    "panthenol": ("provitamin b5", "vitamin b5", "dexpanthenol"),
    "centella-asiatica-extract": ("cica", "gotu kola"),
    "fructooligosaccharides": ("fos",),
    "galactooligosaccharides": ("gos",),
    "colloidal-oatmeal": ("oat", "oatmeal"),
    "beta-glucan-solution": ("beta glucan", "oat beta glucan"),
    "green-tea-extract": ("camellia sinensis",),
    "pe9010": ("euxyl pe 9010", "phenoxyethanol ethylhexylglycerin"),
    "lactobacillus-reuteri-live": ("lactobacillus reuteri",),
    "azelaic-acid": ("azelaic",),
}

MAX_OPTIONS = 12


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9µ]+", " ", (text or "").lower()).split())


def _short(name: str) -> str:
    """The name without its parenthesis: "Inulin", "Bifida Ferment Lysate"."""
    return re.sub(r"\s*\(.*?\)\s*", " ", name).strip()


@dataclass(frozen=True)
class Option:
    code: str
    name: str
    category: str
    range_text: str


@dataclass(frozen=True)
class Resolution:
    code: str | None = None
    problem: str = ""
    candidates: tuple[Option, ...] = ()


def _names(material: MaterialFacts, facts: FormularyFacts) -> list[str]:
    """Every way of naming the material, normalised: name, short name, code, INCI of what it is, common names."""
    names = [material.name, _short(material.name), material.code, material.code.replace("-", " ")]
    for substance, _share in material.composition:
        if substance == material.code or substance == material.active_substance:
            names.append(facts.substances[substance].inci if substance in facts.substances else substance)
    names += COMMON_NAMES.get(material.code, ())
    return list(dict.fromkeys(_norm(n) for n in names if n))


def option(material: MaterialFacts) -> Option:
    low, high = plain_number(material.use_min_percent), plain_number(material.use_max_percent)
    return Option(code=material.code, name=material.name, category=material.category.replace("_", " "),
                  range_text=f"{low}–{high} %")


def _index(facts: FormularyFacts) -> list[tuple[MaterialFacts, list[str]]]:
    cached = _INDEX.get(id(facts))
    if cached is None or cached[0] is not facts:
        cached = (facts, [(m, _names(m, facts)) for m in sorted(facts.materials.values(), key=lambda m: m.name.lower())])
        _INDEX.clear()
        _INDEX[id(facts)] = cached
    return cached[1]


_INDEX: dict[int, tuple[FormularyFacts, list]] = {}


def ingredient_search(text: str, facts: FormularyFacts, limit: int = MAX_OPTIONS) -> list[Option]:
    """Materials whose names, synonyms or code hold every typed word; names that start with it first."""
    query = _norm(text)
    if not query:
        return []
    words = query.split()
    found = []
    for material, names in _index(facts):
        joined = " | ".join(names)
        if all(word in joined for word in words):
            starts = any(n.startswith(query) for n in names)
            exact = query in names
            found.append((not exact, not starts, material.name.lower(), material))
    found.sort(key=lambda row: row[:3])
    return [option(row[3]) for row in found[:limit]]


def ingredient_resolve(text: str, facts: FormularyFacts) -> Resolution:
    """One code for what was typed: an exact code, name or synonym; else the one material it can mean."""
    raw = (text or "").strip()
    if not raw:
        return Resolution()
    if raw in facts.materials:
        return Resolution(code=raw)
    query = _norm(raw)
    exact = [m for m, names in _index(facts) if query in names]
    if len(exact) == 1:
        return Resolution(code=exact[0].code)
    matches = exact or [facts.materials[o.code] for o in ingredient_search(raw, facts, limit=1000)]
    if len(matches) == 1:
        return Resolution(code=matches[0].code)
    if matches:
        shown = [option(m) for m in matches[:8]]
        names = ", ".join(o.name for o in shown) + (" …" if len(matches) > 8 else "")
        return Resolution(problem=f"Several ingredients match “{raw}”: {names}. Choose one from the list.",
                          candidates=tuple(shown))
    every = {name: m for m, names in _index(facts) for name in names}
    near = difflib.get_close_matches(query, list(every), n=3, cutoff=0.6)
    suggestions = list(dict.fromkeys(every[n].name for n in near))
    if suggestions:
        return Resolution(problem=f"No ingredient in the formulary is called “{raw}”. Did you mean {' or '.join(suggestions)}?",
                          candidates=tuple(option(every[n]) for n in near))
    return Resolution(problem=f"No ingredient in the formulary is called “{raw}”. Search by another name, or browse the formulary.")
