"""The rules engine: pure functions over plain data (see engine.py and docs/rules.md)."""

from orders.rules.engine import RULES_VERSION, STORAGE_TEXT, evaluate  # noqa: F401
