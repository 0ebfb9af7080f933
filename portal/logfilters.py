"""Keep patient status tokens out of every log line (Django's, Celery's and gunicorn's access log)."""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"/s/[^/\s\"'?#]+")


def redact(text: str) -> str:
    return TOKEN_PATH.sub("/s/[redacted]", text)


class RedactPatientTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


try:  # gunicorn is a runtime dependency; this module is also imported where it is absent
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object


class GunicornLogger(_GunicornLogger):
    """gunicorn's access log, with status tokens redacted from the request line and path."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
