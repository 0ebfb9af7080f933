"""How deep a JSON body may nest, checked on the raw bytes before anything parses them.

Python's json module recurses once per level and raises RecursionError near 1,000 levels (about
4 KB of `[[[[…`); no order, patient or FHIR resource needs more than a handful. The scan skips
strings (a bracket inside a string is text) and runs in linear time on the body's bytes."""

from __future__ import annotations

import re

MAX_DEPTH = 32

# A whole JSON string (escapes included), or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw` (0 for a scalar)."""
    level = deepest = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        elif token in (b"]", b"}"):
            level -= 1
    return deepest


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    return depth(raw) > limit


def message(limit: int = MAX_DEPTH) -> str:
    return f"The JSON body nests deeper than {limit} levels."


def is_json(content_type: str) -> bool:
    """application/json and every +json type (application/fhir+json, application/merge-patch+json, …)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
