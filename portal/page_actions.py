"""A page's POST that runs one service call and tells the user how it went, as a message on the
page it redirects to: the service's refusal (with its field problems) or the success text."""

from __future__ import annotations

from django.contrib import messages

from portal.errors import ServiceError, record_refusal


def act(request, action, success: str) -> bool:
    try:
        action()
    except ServiceError as exc:
        record_refusal(exc)
        details = " ".join(m for msgs in exc.fields.values() for m in (msgs if isinstance(msgs, list) else [str(msgs)]))
        messages.error(request, f"{exc.message} {details}".strip())
        return False
    messages.success(request, success)
    return True
