"""A JSON parser that refuses oversized bodies with a 400 before parsing them.

DRF reads the request stream itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so the
limit is enforced here."""

import io

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
        return super().parse(io.BytesIO(raw), media_type, parser_context)
