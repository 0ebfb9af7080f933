"""Ingredients by what prescribers type: names, synonyms and codes in any case; ambiguous and unknown
names answered in words; the picker's search endpoint."""

import json

import pytest

from orders.ingredients import ingredient_resolve, ingredient_search
from orders.rules.from_json import facts_from_json
from portal.demo import SEED_FORMULARY


@pytest.fixture(scope="module")
def facts():
    with open(SEED_FORMULARY, encoding="utf-8") as handle:
        return facts_from_json(json.load(handle))


@pytest.mark.parametrize("typed, code", [
    ("inulin", "inulin"), ("Inulin", "inulin"), ("INULIN", "inulin"),
    ("Bifida Ferment Lysate", "bifida-ferment-lysate"), ("bifida-ferment-lysate", "bifida-ferment-lysate"),
    ("Bifida Ferment Lysate (aqueous solution)", "bifida-ferment-lysate"),
    ("vitamin B3", "niacinamide"), ("hyaluronic acid", "sodium-hyaluronate"), ("Zinc pyrithione", "zinc-pyrithione"),
])
def test_a_typed_name_synonym_or_code_resolves_to_the_code(facts, typed, code):
    assert ingredient_resolve(typed, facts).code == code


def test_an_ambiguous_name_lists_the_candidates_instead_of_guessing(facts):
    answer = ingredient_resolve("lactobacillus", facts)
    assert answer.code is None
    codes = {o.code for o in answer.candidates}
    assert {"lactobacillus-ferment-lysate", "lactobacillus-plantarum-inactivated", "lactobacillus-rhamnosus-live"} <= codes
    assert answer.problem.startswith("Several ingredients match “lactobacillus”:")
    assert "Lactobacillus rhamnosus, live freeze-dried culture" in answer.problem


def test_no_match_says_so_and_suggests_the_nearest(facts):
    answer = ingredient_resolve("inullin", facts)
    assert answer.code is None
    assert answer.problem == "No ingredient in the formulary is called “inullin”. Did you mean Inulin?"
    nothing = ingredient_resolve("unobtainium", facts)
    assert nothing.code is None and "No ingredient in the formulary is called “unobtainium”" in nothing.problem


def test_search_shows_name_category_and_strength_range(facts):
    options = ingredient_search("INUL", facts)
    assert options[0].code == "inulin" and options[0].name == "Inulin"
    assert options[0].category == "prebiotic" and options[0].range_text.endswith(" %") and "E" not in options[0].range_text
    assert {o.code for o in ingredient_search("cica", facts)} == {"centella-asiatica-extract"}
    assert ingredient_search("", facts) == []
