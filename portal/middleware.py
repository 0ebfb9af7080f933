"""Pages show the service layer's errors the way the API does: not found is a 404, forbidden a 403."""

from django.http import Http404
from django.core.exceptions import PermissionDenied
from django.views.defaults import page_not_found, permission_denied

from portal.errors import Forbidden, NotFound


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
