"""Names to formulary codes: an ingredient, a base or an allergen group sent as words rather than
our code, and a compound sent only as text ("Niacinamide 4% / Lactobacillus ferment lysate 2% cream,
preservative-free"). A name resolves when it names exactly one item; otherwise the caller is told
the candidates. Pure: works on the engine's formulary facts."""

from __future__ import annotations

import dataclasses
import difflib
import re
from decimal import Decimal, InvalidOperation

from orders.rules.facts import FormularyFacts

# Names prescribers and platforms use that are not our item names (the INCI name of a material's
# active substance, and the item's name without its supply note, are synonyms already).
SYNONYMS = {
    "vitamin b3": "niacinamide", "nicotinamide": "niacinamide",
    "hyaluronic acid": "sodium-hyaluronate", "hyaluronan": "sodium-hyaluronate",
    "dexpanthenol": "panthenol", "provitamin b5": "panthenol", "pro-vitamin b5": "panthenol",
    "oat beta glucan": "beta-glucan-solution", "beta glucan": "beta-glucan-solution",
    "fos": "fructooligosaccharides", "gos": "galactooligosaccharides",
    "cica": "centella-asiatica-extract", "centella": "centella-asiatica-extract",
    "petrolatum": "ointment-base", "white petrolatum": "ointment-base",
}
PRESERVATIVE_FREE_WORDS = re.compile(r"\b(preservative[- ]free|without preservatives?|no preservatives?|unpreserved)\b", re.IGNORECASE)
STRENGTH = re.compile(r"(?P<value>\d+(?:[.,]\d+)?)\s*(?P<unit>%|percent|g/100\s*g|g/100\s*ml)", re.IGNORECASE)
SPLIT = re.compile(r"\s*(?:/|\+|;|,|\band\b|\bwith\b|\bin\b)\s*", re.IGNORECASE)


def normal(text: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    text = re.sub(r"[^a-z0-9%.]+", " ", text)
    return " ".join(text.split())


@dataclasses.dataclass(frozen=True)
class Match:
    code: str | None
    candidates: tuple[str, ...] = ()  # "Name (code)" of the nearest items when unresolved


class Index:
    """Every name, synonym and code of the active formulary's materials and bases."""

    def __init__(self, facts: FormularyFacts):
        self.facts = facts
        self.names: dict[str, set[str]] = {}
        for code, material in facts.materials.items():
            self._add(code, code, code.replace("-", " "), material.name)
            if material.active_substance and material.active_substance in facts.substances:
                self._add(code, facts.substances[material.active_substance].inci)
        for code, base in facts.bases.items():
            self._add(code, code, code.replace("-", " "), base.name)
        for word, code in SYNONYMS.items():
            if code in facts.materials or code in facts.bases:
                self._add(code, word)

    def _add(self, code: str, *names: str) -> None:
        for name in names:
            if name and normal(name):
                self.names.setdefault(normal(name), set()).add(code)

    def label(self, code: str) -> str:
        item = self.facts.materials.get(code) or self.facts.bases.get(code)
        return f"{item.name} ({code})" if item else code

    def item(self, text: str, *, kinds: str = "materials") -> Match:
        """One material (or base) by name, synonym or code."""
        pool = self.facts.materials if kinds == "materials" else self.facts.bases
        key = normal(text)
        exact = {code for code in self.names.get(key, set()) if code in pool}
        if len(exact) == 1:
            return Match(exact.pop())
        if exact:
            return Match(None, tuple(sorted(self.label(c) for c in exact)))
        # Every word sent appears in one item's name: that item (e.g. "lactobacillus ferment lysate").
        words = set(key.split())
        containing = {code for name, codes in self.names.items() if words and words <= set(name.split()) for code in codes
                      if code in pool}
        if len(containing) == 1:
            return Match(containing.pop())
        near = set(containing)
        for name in difflib.get_close_matches(key, list(self.names), n=6, cutoff=0.6):
            near |= {code for code in self.names[name] if code in pool}
        return Match(None, tuple(sorted(self.label(c) for c in near)[:6]))

    def base_for(self, vehicle: str, *, preservative_free: bool) -> Match:
        """The one base of a vehicle (cream, gel, …), preservative-free when asked."""
        bases = [b for b in self.facts.bases.values() if b.vehicle == vehicle]
        if preservative_free:
            bases = [b for b in bases if not self.preserved(b.code)]
        if len(bases) == 1:
            return Match(bases[0].code)
        return Match(None, tuple(sorted(self.label(b.code) for b in bases)))

    def preserved(self, base_code: str) -> bool:
        base = self.facts.bases[base_code]
        return any((self.facts.substances[s].antimicrobial if s in self.facts.substances else None) in ("qualifying", "non_qualifying")
                   for s, _ in base.composition)

    def vehicles(self) -> set[str]:
        return {b.vehicle for b in self.facts.bases.values()}


@dataclasses.dataclass
class TextPart:
    text: str  # as written
    code: str | None = None
    percent: Decimal | None = None
    candidates: tuple[str, ...] = ()


@dataclasses.dataclass
class ParsedCompound:
    ingredients: list[TextPart]
    base: TextPart
    preservative_free: bool


def parse_compound(text: str, index: Index) -> ParsedCompound:
    """'Niacinamide 4% / Lactobacillus ferment lysate 2% cream, preservative-free' → parts, each resolved or not."""
    preservative_free = bool(PRESERVATIVE_FREE_WORDS.search(text))
    rest = PRESERVATIVE_FREE_WORDS.sub(" ", text)
    ingredients: list[TextPart] = []
    leftovers: list[str] = []
    for chunk in SPLIT.split(rest):
        chunk = chunk.strip(" .")
        if not chunk:
            continue
        strength = STRENGTH.search(chunk)
        if strength is None:
            leftovers.append(chunk)
            continue
        name = chunk[:strength.start()].strip()
        after = chunk[strength.end():].strip()
        if after:
            leftovers.append(after)  # "2% cream": the vehicle follows the last strength
        try:
            percent = Decimal(strength.group("value").replace(",", "."))
        except InvalidOperation:
            percent = None
        match = index.item(name)
        ingredients.append(TextPart(text=name, code=match.code, percent=percent, candidates=match.candidates))
    base_words = " ".join(leftovers).strip()
    base = TextPart(text=base_words)
    if base_words:
        vehicle = _vehicle_in(base_words, index)
        named = index.item(base_words, kinds="bases")
        if named.code:
            base.code = named.code
        elif vehicle:
            match = index.base_for(vehicle, preservative_free=preservative_free)
            base.code, base.candidates = match.code, match.candidates
        else:
            base.candidates = named.candidates
    return ParsedCompound(ingredients=ingredients, base=base, preservative_free=preservative_free)


def _vehicle_in(words: str, index: Index) -> str | None:
    key = normal(words).replace(" ", "_")
    for vehicle in sorted(index.vehicles(), key=len, reverse=True):
        if vehicle in key or vehicle.replace("_", " ") in normal(words):
            return vehicle
    return None


def allergen_group(text: str, names: dict[str, str]) -> Match:
    """An allergen group by its code or name ('Fragrance', 'parabens', 'PARABENS')."""
    key = normal(text)
    by_key = {normal(code.replace("_", " ")): code for code in names} | {normal(name): code for code, name in names.items()}
    if key in by_key:
        return Match(by_key[key])
    words = set(key.split())
    containing = {code for name, code in by_key.items() if words and words <= set(name.split())}
    if len(containing) == 1:
        return Match(containing.pop())
    near = set(containing) | {by_key[n] for n in difflib.get_close_matches(key, list(by_key), n=5, cutoff=0.6)}
    return Match(None, tuple(sorted(f"{names[c]} ({c})" for c in near)))
