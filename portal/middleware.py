"""Pages show the service layer's errors the way the API does: not found is a 404, forbidden a 403."""

from django.http import Http404
from django.core.exceptions import PermissionDenied
from django.views.defaults import page_not_found, permission_denied

from portal.errors import Forbidden, NotFound, error_json, fhir_outcome_json


class ServiceErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound):
            return page_not_found(request, Http404(exception.message))
        if isinstance(exception, Forbidden):
            return permission_denied(request, PermissionDenied(exception.message))
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


class RejectNulMiddleware:
    """A NUL character in the path or query string is refused with 400 before any view: PostgreSQL
    cannot store or compare text containing one, so it would otherwise fail deep in a query. (Form and
    serializer fields refuse NUL themselves.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/s/"):  # the patient page answers every malformed link with its one plain 404
            return self.get_response(request)
        if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            message = "The address contains a NUL character."
            if request.path.startswith("/fhir/"):
                return fhir_outcome_json("invalid", message, status=400)
            if request.path.startswith("/api/"):
                return error_json("parse_error", message, status=400)
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


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
