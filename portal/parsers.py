"""A JSON parser that refuses oversized and over-deep bodies with a 400 before parsing them.

DRF reads the request stream itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so the size
limit is enforced here. The depth limit is also enforced for every request by
portal.middleware.JsonBodyGuardMiddleware, before authentication; this is the second line (and
covers a parser called without the middleware). JSON is the only parser by default: a route that
takes uploads names MultiPartParser itself (formulary lots)."""

import io

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from portal import jsonlimits


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise ParseError(f"The request body is larger than {limit // 1024} KB.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"The request body is larger than {limit // 1024} KB.")
        if jsonlimits.too_deep(raw, settings.JSON_MAX_DEPTH):
            raise ParseError(jsonlimits.message(settings.JSON_MAX_DEPTH))
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # pragma: no cover - the depth check above comes first
            raise ParseError(jsonlimits.message(settings.JSON_MAX_DEPTH)) from None
