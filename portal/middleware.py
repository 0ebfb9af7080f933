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
