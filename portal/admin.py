from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from portal.models import ApiToken, Pharmacy, PharmacyLicence, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "get_full_name", "email", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    fieldsets = DjangoUserAdmin.fieldsets + (("Role", {"fields": ["role"]}),)
    add_fieldsets = DjangoUserAdmin.add_fieldsets + (("Role", {"fields": ["role", "email", "first_name", "last_name"]}),)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    list_filter = ["revoked_at"]


class PharmacyLicenceInline(admin.TabularInline):
    model = PharmacyLicence
    extra = 0


@admin.register(Pharmacy)
class PharmacyAdmin(admin.ModelAdmin):
    list_display = ["name", "resident_state"]
    inlines = [PharmacyLicenceInline]


def _verified_staff(request) -> bool:
    """The admin site opens only to active staff who passed both factors in this session."""
    user = request.user
    return bool(user.is_active and user.is_staff and getattr(user, "is_verified", lambda: False)())


admin.site.has_permission = _verified_staff
