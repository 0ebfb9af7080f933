"""One error vocabulary: services raise these; the API handler and the pages render them."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses. `code` is stable (part of the API), `message` is for people."""

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
