"""The OpenAPI schema says what every operation can answer, errors included: each error is the one
envelope {"error": {"code", "message", "fields"}} (portal.api.exception_handler)."""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code, e.g. validation_error, not_found."},
                "message": {"type": "string", "description": "What is wrong, for a person."},
                "fields": {"type": "object", "additionalProperties": True, "description": "Per-field problems, if any."},
            },
        },
    },
}

# What any operation may answer, and why.
COMMON = {
    "400": "The request is malformed or a field is invalid (see `fields`).",
    "404": "No such object, or not yours to see.",
    "405": "This method is not allowed here.",
    "406": "Only application/json answers are offered.",
    "415": "Send application/json.",
    "429": "Too many requests; wait and retry.",
}
AUTHENTICATED = {
    "401": "Missing, invalid or revoked token.",
    "403": "Your role may not do this.",
}
WRITES = {
    "409": "The object's state does not allow this now (or the same Idempotency-Key is in flight).",
    "412": "If-Match does not match the current ETag: re-read and retry.",
    "413": "The body is too large.",
    "422": "The request is well formed but cannot be accepted (see `fields`, or the rules' findings).",
    "428": "A required precondition header (Idempotency-Key) is missing.",
}


def document_errors(result, generator, request, public):
    """drf-spectacular post-processing hook: add the error envelope and the error answers each
    operation can give, without touching answers a view documents itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = dict(COMMON)
            if operation.get("security") != [{}] and operation.get("security", [None]) != []:
                codes.update(AUTHENTICATED)
            if method != "get":
                codes.update(WRITES)
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                responses.setdefault(code, {"description": description, "content": {"application/json": {"schema": reference}}})
    return result
