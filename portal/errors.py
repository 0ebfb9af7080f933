"""One error vocabulary: services raise these; the API handler and the pages render them."""

from __future__ import annotations

from collections.abc import Callable


class ServiceError(Exception):
    """A request the service refuses. `code` is stable (part of the API), `message` is for people.

    A refusal may have something to write down that must outlive the refused change's rollback (a
    transition door records every refused move). It adds it with `after_rollback(...)`; whoever handles
    the error at the entry point (the API's handler, a page's act(), a task, a sweep that skips the
    error) calls `record_refusal(exc)` once the transaction is gone."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}
        self.pending: list[Callable[[], object]] = []

    def after_rollback(self, action: Callable[[], object]) -> None:
        self.pending.append(action)


def record_refusal(exc: BaseException) -> None:
    """Write what a refusal asked to keep, now that its transaction has rolled back; each only once."""
    pending = getattr(exc, "pending", None)
    while pending:
        pending.pop(0)()


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


def error_json(code: str, message: str, *, status: int, fields: dict | None = None):
    """The API's error envelope as a plain Django response, for answers given outside DRF's views
    (middleware, the 404 and 500 handlers); DRF views answer through portal.api.exception_handler."""
    from django.http import JsonResponse

    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def fhir_outcome_json(issue_type: str, message: str, *, status: int):
    """An OperationOutcome for answers given outside the FHIR views (the 404 and 500 handlers, the NUL check)
    under /fhir/, where every answer is FHIR (the FHIR package builds its own inside its views)."""
    from django.http import JsonResponse

    return JsonResponse({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": issue_type, "diagnostics": message}]},
                        status=status, content_type="application/fhir+json")
