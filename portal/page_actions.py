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
        messages.error(request, _said_once(exc))
        return False
    messages.success(request, success)
    return True


def act_beside(request, action, success: str, checked, fields: tuple[str, ...]) -> bool:
    """As `act`, but a refusal about one of the form's `fields` is put beside that field (`checked.error`, for the
    view to show the form again with what was typed) instead of at the top of the page."""
    try:
        action()
    except ServiceError as exc:
        record_refusal(exc)
        named = [name for name in fields if name in exc.fields]
        if not named:
            messages.error(request, _said_once(exc))
        for name in named:
            checked.error(name, exc.message if len(named) == 1 else _first(exc.fields[name]))
        return False
    messages.success(request, success)
    return True


def _first(notes) -> str:
    return str(notes[0] if isinstance(notes, list) and notes else notes)


def _said_once(exc: ServiceError) -> str:
    """The refusal's sentence, then only what its fields add: a field's note that the sentence already says
    ("6–40 letters, digits or dashes.") or a generic "This field is required." is not said a second time."""
    message = str(exc.message or "").strip()
    said = message.lower()
    details = []
    for msgs in exc.fields.values():
        for note in (msgs if isinstance(msgs, list) else [msgs]):
            note = str(note).strip()
            bare = note.rstrip(".").strip().lower()
            if not bare or (message and (bare in said or bare == "this field is required")) or note in details:
                continue
            details.append(note)
    return " ".join([message, *details]).strip()
