"""A lint that fails the build if anything marks user input safe: no `|safe`, `|safeseq` or
`{% autoescape off %}` in an HTML template, no `mark_safe`/`SafeString` in our code, and the
non-escaping engine used for plain-text emails only."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "orders", "fulfillment", "formulary")
TEMPLATE_RULES = [
    (re.compile(r"\|\s*safe(seq)?\b"), "the |safe filter"),
    (re.compile(r"{%\s*autoescape\s+off\s*%}"), "autoescape off"),
]
CODE_RULES = [
    (re.compile(r"\bmark_safe\s*\("), "mark_safe()"),
    (re.compile(r"\bSafeString\s*\("), "SafeString()"),
    (re.compile(r"\bSafeText\s*\("), "SafeText()"),
    (re.compile(r"\.render\([^)]*autoescape\s*=\s*False"), "autoescape=False"),
]


def problems(text: str, rules) -> list[str]:
    return [f"line {text[:m.start()].count(chr(10)) + 1}: {label}" for pattern, label in rules for m in pattern.finditer(text)]


def _templates():
    yield from (ROOT / "templates").rglob("*.html")
    for app in APPS:
        yield from (ROOT / app / "templates").rglob("*.html") if (ROOT / app / "templates").exists() else ()


def test_no_template_marks_anything_safe():
    found = {str(path.relative_to(ROOT)): problems(path.read_text(encoding="utf-8"), TEMPLATE_RULES) for path in _templates()}
    assert len(found) > 30  # it did read our templates
    assert {path: p for path, p in found.items() if p} == {}


def test_no_code_marks_anything_safe():
    files = [path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]
    found = {str(path.relative_to(ROOT)): problems(path.read_text(encoding="utf-8"), CODE_RULES) for path in files}
    assert {path: p for path, p in found.items() if p} == {}


def test_the_unescaped_text_engine_renders_only_txt_templates():
    uses = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            uses += re.findall(r'engines\["text"\]\.get_template\(([^)]*)\)', path.read_text(encoding="utf-8"))
    assert uses and all(use.rstrip().endswith('.txt"') for use in uses), uses


def test_the_lint_catches_what_it_is_for():
    assert problems("<p>{{ patient.notes|safe }}</p>", TEMPLATE_RULES) == ["line 1: the |safe filter"]
    assert problems("<p>\n{% autoescape off %}{{ x }}{% endautoescape %}</p>", TEMPLATE_RULES) == ["line 2: autoescape off"]
    assert problems("{{ rows | safeseq }}", TEMPLATE_RULES) == ["line 1: the |safe filter"]
    assert problems("html = mark_safe(user_text)", CODE_RULES) == ["line 1: mark_safe()"]
    assert problems("<p>{{ safe_word }}</p> {{ x|safe_join }}", TEMPLATE_RULES) == []
