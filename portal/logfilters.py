"""Keep patient status tokens and password-reset links out of every log line (Django's, Celery's and
gunicorn's access log)."""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"/s/[^/\s\"'?#]+")
RESET_PATH = re.compile(r"/accounts/reset/[^/\s\"'?#]+/[^/\s\"'?#]+")


def redact(text: str) -> str:
    return RESET_PATH.sub("/accounts/reset/[redacted]", TOKEN_PATH.sub("/s/[redacted]", text))


class RedactPatientTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class NoValuesFormatter(logging.Formatter):
    """Tracebacks without the exception's message: where it failed (file, line, code), never the values
    (an IntegrityError's DETAIL, a ValueError's text) that may hold patient data. A request's error
    reference, shown on the generic 500 page, is added so support can find the line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        reference = getattr(getattr(record, "request", None), "error_reference", None)
        return f"{text} [ref {reference}]" if reference and "[ref " not in text else text

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        import traceback

        kind, _value, tb = ei
        frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
        return f"Traceback (most recent call last):\n{frames}{kind.__module__}.{kind.__qualname__}: [message withheld: may hold patient data]"


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
