"""OperationOutcome: the one shape of every FHIR error, one issue per problem.

Each issue has a severity, an issue type, our code in `details.coding` (a rule code from the engine,
or an error code of the API), the plain sentence in `diagnostics`, and a FHIRPath `expression` to
the element it is about."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fulfillment.fhir import systems

API_CODES = f"{systems.BASE}/CodeSystem/api-error"


@dataclasses.dataclass
class Issue:
    diagnostics: str
    expression: str | None = None
    code: str = "invalid"  # the FHIR issue type
    severity: str = "error"
    detail_code: str | None = None  # ours: a rule code or an API error code
    detail_system: str = API_CODES
    detail_display: str | None = None

    def as_json(self) -> dict:
        issue: dict = {"severity": self.severity, "code": self.code}
        if self.detail_code:
            # Our rule codes are upper case (UNKNOWN_INGREDIENT); the API's error codes lower (requester_missing).
            system = systems.RULE if self.detail_code.isupper() and self.detail_system == API_CODES else self.detail_system
            coding = {"system": system, "code": self.detail_code}
            issue["details"] = {"coding": [coding]}
            if self.detail_display:
                coding["display"] = self.detail_display
                issue["details"]["text"] = self.detail_display
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


class FhirError(Exception):
    """A request refused with an OperationOutcome. Nothing was saved."""

    def __init__(self, status: int, issues: Iterable[Issue]):
        self.status = status
        self.issues = list(issues)
        super().__init__("; ".join(i.diagnostics for i in self.issues))


def fail(status: int, diagnostics: str, *, expression: str | None = None, code: str = "invalid", detail_code: str | None = None):
    raise FhirError(status, [Issue(diagnostics, expression=expression, code=code, detail_code=detail_code)])


def outcome_json(issues: Iterable[Issue]) -> dict:
    issues = list(issues)
    if not issues:
        issues = [Issue("All is well.", code="informational", severity="information")]
    return {"resourceType": "OperationOutcome", "issue": [issue.as_json() for issue in issues]}


def fhirpath(root: str, loc: Iterable) -> str:
    """('contained', 0, 'ingredient', 1, 'strength') → Root.contained[0].ingredient[1].strength"""
    path = root
    for part in loc:
        if isinstance(part, int) or str(part).isdigit():
            path += f"[{part}]"
        else:
            name = "for" if part == "for_fhir" else str(part)
            if name.startswith("function-after") or name in ("model", "") or "[" in name:
                continue  # pydantic's own validator names are not elements
            path += f".{name}"
    return path


def from_pydantic(error, *, root: str) -> list[Issue]:
    """The FHIR library's validation errors, each with the element it names."""
    issues = []
    for item in error.errors()[:50]:
        loc = [p for p in item.get("loc", ()) if p != "__root__"]
        kind = item.get("type", "")
        message = str(item.get("msg", "")).replace("Value error, ", "")
        message = " ".join(message.split())
        if kind == "extra_forbidden":
            element = str(loc[-1]) if loc else "?"
            text = (f"{element!s} is not an element of this FHIR R4 resource (an R5-shaped or misspelt resource?). "
                    "Send FHIR R4 (4.0.1/4.3.0) JSON.")
            issues.append(Issue(text, expression=fhirpath(root, loc), code="structure", detail_code="unknown_element"))
        elif kind == "missing":
            issues.append(Issue(f"{fhirpath(root, loc)} is required.", expression=fhirpath(root, loc), code="required",
                                detail_code="required"))
        else:
            issues.append(Issue(f"{fhirpath(root, loc)}: {message}", expression=fhirpath(root, loc), code="value",
                                detail_code="invalid_value"))
    return issues or [Issue("The resource is not valid FHIR R4.", expression=root, code="structure")]
