"""What a page form sends, checked field by field before anything is read from it or saved.

A NUL character (PostgreSQL can neither store nor compare text holding one) or an identifier that is not
in our form (a hidden or chosen value that was edited, e.g. "12\\x00", "abc", a huge number) becomes an
error beside that field on the re-rendered form, which keeps what was typed (without the NUL) so nothing
has to be typed again. Nothing is saved while a field is in error.

A view that checks its form this way is marked `@form_input_checked`; every other page form is still
refused by `portal.middleware.RejectNulMiddleware` with a plain 400 page, the last line of defence (so a
form added later and not checked is refused, never a 500)."""

from __future__ import annotations

import uuid

NUL = "\x00"
NUL_MESSAGE = ("This held an invisible control character (NUL) that cannot be stored; it is taken out above. "
               "Check the text and send the form again.")
CHOICE_MESSAGE = "This was not one of the choices offered. Choose again from the list and send the form again."
HIDDEN_MESSAGE = ("The form sent a value that is not one of ours (it may have been changed in the browser). "
                  "Nothing was saved: check the page and send it again.")


def form_input_checked(view):
    """Mark a page view whose forms check every field they read (NUL, malformed ids) and re-render with a
    field error: the NUL middleware then lets its POSTs through to it."""
    view.form_input_checked = True
    return view


def without_nul(value: str) -> str:
    return value.replace(NUL, "")


def nul_fields(post) -> list[str]:
    """The names of the fields (of a QueryDict) holding a NUL in their name or in any of their values, in order."""
    return [without_nul(key) for key, values in post.lists() if NUL in key or any(NUL in v for v in values)]


def post_without_nul(post):
    """A mutable copy of the form with every NUL taken out of names and values (what the page shows again)."""
    from django.http import QueryDict

    clean = QueryDict(mutable=True)
    for key, values in post.lists():
        clean.setlist(without_nul(key), [without_nul(v) for v in values])
    return clean


def parse_public_id(raw) -> uuid.UUID | None:
    """Our identifiers are UUIDs: anything else (a NUL, "abc", a number of any size) is None."""
    if not isinstance(raw, str) or NUL in raw or len(raw) > 64:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


class FormInput:
    """One POST, read field by field: `text()` and `public_id()` return the usable value and note an error
    (NUL_MESSAGE, CHOICE_MESSAGE, too long) under the field's name; `values` is what the page shows again."""

    def __init__(self, post, request=None):
        self.post = post
        self.request = request
        self.errors: dict[str, str] = {}
        self.values: dict[str, object] = {}
        self._nul_fields = [name for name in nul_fields(post) if name != "csrfmiddlewaretoken"]
        self._said = False

    @property
    def stray(self) -> list[str]:
        """Fields holding a NUL that the view does not read as text (hidden ones, buttons): no place beside them."""
        return [name for name in self._nul_fields if name not in self.values]

    @property
    def ok(self) -> bool:
        """Nothing to refuse: no field in error, and no NUL anywhere in the form (a form holding one acts on
        nothing). A NUL in a field with no place on the page is said once, above it (a message)."""
        if self.stray and self.request is not None and not self._said:
            from django.contrib import messages

            messages.error(self.request, HIDDEN_MESSAGE)
            self._said = True
        return not self.errors and not self.stray

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(self, name: str, *, max_length: int | None = None, strip: bool = True, default: str = "") -> str:
        raw = self.post.get(name, default)
        if NUL in raw:
            self.error(name, NUL_MESSAGE)
            raw = without_nul(raw)
        if strip:
            raw = raw.strip()
        if max_length is not None and len(raw) > max_length:
            self.error(name, f"At most {max_length} characters (this has {len(raw)}).")
        self.values[name] = raw
        return raw

    def texts(self, name: str) -> list[str]:
        values = self.post.getlist(name)
        if any(NUL in v for v in values):
            self.error(name, NUL_MESSAGE)
        values = [without_nul(v) for v in values]
        self.values[name] = values
        return values

    def public_id(self, name: str, *, message: str = CHOICE_MESSAGE) -> uuid.UUID | None:
        """A chosen or hidden id: blank is None (the view says whether it is required); malformed is an error."""
        raw = self.post.get(name, "")
        self.values[name] = without_nul(raw)
        if not raw.strip():
            return None
        parsed = parse_public_id(raw)
        if parsed is None:
            self.error(name, message)
        return parsed

    def public_ids(self, name: str, *, message: str = CHOICE_MESSAGE) -> list[uuid.UUID]:
        raws = self.post.getlist(name)
        self.values[name] = [without_nul(v) for v in raws]
        parsed = [parse_public_id(v) for v in raws if v.strip()]
        if any(p is None for p in parsed):
            self.error(name, message)
        return [p for p in parsed if p is not None]

    def choice(self, name: str, choices, *, default: str = "", message: str = CHOICE_MESSAGE) -> str:
        raw = self.post.get(name, default)
        self.values[name] = without_nul(raw)
        if raw not in choices:
            self.error(name, message)
            return default
        return raw
