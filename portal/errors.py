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
