"""Request guards shared by every page and endpoint (so a new route gets them for free): NUL
characters and over-deep JSON refused before any view, no-store on every dynamic answer, and the
service layer's errors shown on pages the way the API shows them (404, 403, 400)."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.views.defaults import page_not_found, permission_denied

from portal.errors import Forbidden, NotFound, ServiceError, error_json, fhir_outcome_json, record_refusal

log = logging.getLogger(__name__)
API_PREFIXES = ("/api/", "/fhir/")


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def bad_input(request, message: str, *, status: int = 400, code: str = "parse_error"):
    """A refused input: an OperationOutcome under /fhir/, the error envelope on the API, a plain page (with the
    message) elsewhere."""
    if request.path.startswith("/fhir/"):
        response = fhir_outcome_json("too-long" if status == 413 else "invalid", message, status=status)
    elif is_api(request):
        response = error_json(code, message, status=status)
    else:
        from django.shortcuts import render

        response = render(request, "400.html", {"message": message}, status=status)
    response._has_been_logged = True  # the caller logged one line saying why; Django need not add "Bad Request: …"
    return response


class ServiceErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ServiceError):
            record_refusal(exception)
        if isinstance(exception, NotFound):
            return page_not_found(request, Http404(exception.message))
        if isinstance(exception, Forbidden):
            return permission_denied(request, PermissionDenied(exception.message))
        if isinstance(exception, DjangoValidationError):
            # A model field refused a value a form or query passed through unchecked (a malformed id in
            # a form field): bad input, not a failure of ours. Logged without the value.
            log.warning("refused a malformed value on %s %s", request.method, request.path)
            return bad_input(request, "A value sent is not in the expected form (for example an identifier that is not one "
                                      "of ours). Go back, choose from the list and send the form again.", code="validation_error")
        return None


class SessionLimitsMiddleware:
    """A signed-in session ends SESSION_MAX_AGE_SECONDS after sign-in, however active it stays.
    (Idle sessions end by themselves: SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST.)"""

    KEY = "signed_in_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        from django.conf import settings
        from django.contrib.auth import logout

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            started = request.session.setdefault(self.KEY, int(time.time()))
            if time.time() - started > settings.SESSION_MAX_AGE_SECONDS:
                logout(request)
        return self.get_response(request)


_LABELS = {"code": "ingredient", "fav_name": "favourite name", "clinical_difference_note": "clinical note"}


def _field_label(name: str) -> str:
    """`prep-0-directions` → `directions`: the field as the form shows it, without its row prefix."""
    last = name.rsplit("-", 1)[-1]
    return _LABELS.get(last, last.replace("_", " ").strip() or name)


class RejectNulMiddleware:
    """A NUL character in the path, the query string or a page form's field is refused with 400
    before any view: PostgreSQL cannot store or compare text containing one, so it would otherwise
    fail deep in a query. The page forms that check their own fields (`portal.form_input`, views
    marked `@form_input_checked`) get their POST: they show the error beside the field and keep what
    was typed. Every other form, including one added later, is refused here with a plain page naming
    the field: the last line of defence. (API bodies are JSON: their serializer fields refuse NUL.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/s/"):  # the patient page answers every malformed link or date with its one plain answer
            return self.get_response(request)
        if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            log.warning("refused an address with a NUL character")
            return bad_input(request, "The address contains a NUL character.")
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith("/s/") or request.method != "POST" or is_api(request):
            return None
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return None
        try:
            fields = [key for key, values in request.POST.lists() if "\x00" in key or any("\x00" in v for v in values)]
        except RequestDataTooBig:
            log.warning("refused a form larger than the upload limit on %s", request.path)
            return bad_input(request, "The form is too large.", status=413)
        if fields and not getattr(view_func, "form_input_checked", False):
            log.warning("refused a form with a NUL character on %s", request.path)
            label = _field_label(fields[0].replace("\x00", ""))
            return bad_input(request, f"The field “{label}” contains a NUL character (an invisible control character that "
                                      "cannot be stored). Remove it, for example by typing the text again, and send the form again.")
        if fields:
            log.warning("a form with a NUL character on %s: the form shows the error", request.path)
        return None


class JsonBodyGuardMiddleware:
    """Every JSON body (application/json or any +json type, on the API, FHIR or a page) is checked
    before any view, authentication or signature work: larger than the upload limit → 400, nested
    deeper than JSON_MAX_DEPTH → 400 (Python's parser would raise RecursionError near 1,000 levels)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        from portal import jsonlimits

        if request.method in ("POST", "PUT", "PATCH", "DELETE") and jsonlimits.is_json(request.META.get("CONTENT_TYPE", "")):
            try:
                raw = request.body  # read once; DRF and views read the same bytes afterwards
            except RequestDataTooBig:
                log.warning("refused a body larger than the upload limit on %s %s", request.method, request.path)
                return bad_input(request, f"The request body is larger than {settings.API_MAX_BODY_BYTES // 1024} KB.",
                                 status=413 if request.path.startswith("/fhir/") else 400)  # FHIR says 413 for this
            if jsonlimits.too_deep(raw, settings.JSON_MAX_DEPTH):
                log.warning("refused a JSON body nested deeper than %d levels on %s %s", settings.JSON_MAX_DEPTH, request.method,
                            request.path)
                return bad_input(request, jsonlimits.message(settings.JSON_MAX_DEPTH))
        return self.get_response(request)


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every dynamic answer (pages, API, FHIR, downloads,
    errors), so no browser or intermediary keeps patient data, for instance behind the back button
    of a shared clinic computer. Static files keep their long cache lifetimes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        response = self.get_response(request)
        if request.path.startswith(settings.STATIC_URL):
            return response
        current = response.get("Cache-Control", "")
        if "no-store" not in current:
            response["Cache-Control"] = "no-store, private"
        return response


class SessionEndedMiddleware:
    """A live request from a page (htmx, or the page's own script) that meets an ended session gets
    401 with `X-Session-Ended`, not the sign-in page: the page keeps what was typed, asks to sign in
    again in place (static/js/portal.js) and then sends it again. A browser navigating is still sent
    to the sign-in page as before."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.headers.get("HX-Request") and response.status_code == 302:
            from django.conf import settings
            from django.http import HttpResponse
            from django.shortcuts import resolve_url
            from django.urls import reverse

            location = response.get("Location", "")
            if location.startswith((resolve_url(settings.LOGIN_URL), reverse("two-factor-verify"), reverse("two-factor-setup"))):
                ended = HttpResponse("Your session has ended. Sign in again to continue.", status=401,
                                     content_type="text/plain; charset=utf-8")
                ended["X-Session-Ended"] = "1"
                ended["Cache-Control"] = "no-store"
                return ended
        return response


class PatientPagesMiddleware:
    """The patient's pages (a status link, an old tracking link) never show Django's debug pages, which
    list every route, nor the staff error pages: a missing page is the patient's plain "not found", a
    crash their plain "something went wrong" (logged, with a reference, like every other error)."""

    PREFIXES = ("/s/", "/track/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.PREFIXES) and response.status_code == 404 and not getattr(response, "patient_page", False):
            return self._page(request, "patient/not_found.html", 404)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith(self.PREFIXES):
            return None
        import logging
        import secrets

        reference = secrets.token_hex(4).upper()
        logging.getLogger("portal.patient").error("patient page failed, reference %s", reference, exc_info=exception)
        return self._page(request, "patient/error.html", 500, {"reference": reference})

    @staticmethod
    def _page(request, template, status, context=None):
        from django.shortcuts import render

        response = render(request, template, context or {}, status=status)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        response.patient_page = True
        return response
