"""The cyclic garbage collector's thresholds in a web worker.

A request that lists 50 orders allocates a few hundred thousand short-lived objects (rows, dicts,
decoded JSON, serializer fields). With Python's default gen-0 threshold (700) that is hundreds of
young collections a request, and every tenth of those a gen-1 and in time a full collection that
scans everything alive: the orders list's p95 was a collector pause, not SQL (docs/benchmarks.md).
Almost none of those objects are in cycles (reference counting frees them), so collecting young
objects every 50,000 allocations instead of 700 loses nothing but the pauses. `portal/wsgi.py`
also freezes what the app loaded, so full collections skip it."""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000


def gc_tune() -> None:
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
