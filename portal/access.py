"""Who may see which page: role checks shared by pages and API permissions."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from portal.models import PHARMACY_ROLES, Role


def role_required(*roles: str):
    """A page for signed-in users of these roles only; anyone else gets 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.user.role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


pharmacy_staff_required = role_required(*PHARMACY_ROLES)
prescriber_required = role_required(Role.PRESCRIBER)


class IsPharmacyStaff(BasePermission):
    message = "Only pharmacy staff may do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role in PHARMACY_ROLES)


class IsPharmacyStaffOrReadOnly(BasePermission):
    message = "Only pharmacy staff may change the formulary."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or request.user.role in PHARMACY_ROLES
