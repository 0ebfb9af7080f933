"""Benchmark: the rules engine's time per preparation for 1, 10 and 30 ingredients.

Pure: runs on formulary/seed/formulary.json, no database. Usage:
    .venv/bin/python bench/rules_engine.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orders.rules import evaluate  # noqa: E402
from orders.rules.facts import IngredientLine, Licence, Lot, OrderContext, PreparationInput  # noqa: E402
from orders.rules.from_json import facts_from_json  # noqa: E402

TODAY = dt.date(2026, 11, 29)


def build(n: int, facts) -> PreparationInput:
    """A cream with n distinct materials that may go into a cream, each at its lowest strength."""
    usable = [m for m in facts.materials.values() if "cream" in m.vehicles and m.viability != "live" and not m.investigational]
    usable.sort(key=lambda m: m.use_min_percent / m.active_fraction)
    lines = tuple(IngredientLine(m.code, m.use_min_percent) for m in usable[:n])
    assert len(lines) == n, f"only {len(usable)} cream materials"
    return PreparationInput(base="cream-base-pf", quantity=Decimal(100), unit="g", ingredients=lines, target_ph=Decimal("5.0"),
                            excluded_allergen_groups=frozenset({"TREE_NUTS", "FRAGRANCE"}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per size")
    args = parser.parse_args()
    facts = facts_from_json(json.loads((ROOT / "formulary/seed/formulary.json").read_text()))
    far = dt.date(2030, 1, 1)
    lots = tuple(Lot(code, f"{code}-1", far, Decimal(100000)) for code in list(facts.materials) + list(facts.bases))
    context = OrderContext(ship_to_state="CA", encounter_state="CA", prescriber_licences=(Licence("CA", far),),
                           pharmacy_licences=(Licence("CA", far),), lots=lots)
    print("| ingredients | preparations/s | mean µs | p95 µs |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (1, 10, 30):
        prep = build(n, facts)
        for _ in range(50):
            evaluate(prep, facts, context, today=TODAY)  # warm up
        samples = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            evaluate(prep, facts, context, today=TODAY)
            samples.append(time.perf_counter() - start)
        mean = statistics.fmean(samples)
        p95 = sorted(samples)[int(len(samples) * 0.95)]
        print(f"| {n} | {1 / mean:,.0f} | {mean * 1e6:,.0f} | {p95 * 1e6:,.0f} |")


if __name__ == "__main__":
    main()
