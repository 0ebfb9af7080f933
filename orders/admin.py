from django.contrib import admin

from orders.models import Clinic, Patient, Prescriber, PrescriberLicence


class PrescriberLicenceInline(admin.TabularInline):
    model = PrescriberLicence
    extra = 0


@admin.register(Prescriber)
class PrescriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "clinic", "npi"]
    list_filter = ["clinic"]
    search_fields = ["user__username", "user__last_name", "npi"]
    inlines = [PrescriberLicenceInline]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["platform_accounts"]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["last_name", "first_name", "clinic", "date_of_birth", "state"]
    list_filter = ["clinic"]
    search_fields = ["last_name", "first_name", "external_id"]
