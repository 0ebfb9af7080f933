"""The pharmacy admin's formulary editor: inlines for compositions, checks that they sum to 100 %,
import and export of the whole formulary, and a revision bump on every save."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from formulary import interchange, services
from formulary.models import (
    AllergenGroup,
    Base,
    BaseComponent,
    EuSumGroup,
    FormularyState,
    Incompatibility,
    Material,
    MaterialComponent,
    StockLot,
    Substance,
    SubstanceAllergen,
)


class CompositionFormSet(BaseInlineFormSet):
    """A composition must name each substance once and sum to 100 %."""

    def clean(self):
        super().clean()
        total, seen = Decimal(0), set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            substance = form.cleaned_data.get("substance")
            if substance in seen:
                raise ValidationError(f"{substance.code} is listed twice.")
            seen.add(substance)
            total += form.cleaned_data.get("percent") or 0
        if not seen:
            raise ValidationError("A composition needs at least one substance.")
        if abs(total - 100) > interchange.SUM_TOLERANCE:
            raise ValidationError(f"The composition sums to {total.normalize():f} %, not 100 %.")


class FormularyEditAdmin(admin.ModelAdmin):
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Bumps the revision, and flags the master formulation records that use an edited material, base or substance.
        services.formulary_item_edited(item=form.instance, by=request.user)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        services.formulary_revision_bump()


class MaterialComponentInline(admin.TabularInline):
    model = MaterialComponent
    formset = CompositionFormSet
    extra = 1
    autocomplete_fields = ["substance"]


class BaseComponentInline(admin.TabularInline):
    model = BaseComponent
    formset = CompositionFormSet
    extra = 1
    autocomplete_fields = ["substance"]


class SubstanceAllergenInline(admin.TabularInline):
    model = SubstanceAllergen
    extra = 0


@admin.register(AllergenGroup)
class AllergenGroupAdmin(FormularyEditAdmin):
    list_display = ["code", "name", "description"]
    search_fields = ["code", "name"]


@admin.register(EuSumGroup)
class EuSumGroupAdmin(FormularyEditAdmin):
    list_display = ["code", "eu_leave_on_max_percent", "eu_rinse_off_max_percent"]


@admin.register(Substance)
class SubstanceAdmin(FormularyEditAdmin):
    list_display = ["code", "inci", "is_water", "antimicrobial", "preservative_min_percent", "eu_leave_on_max_percent"]
    list_filter = ["antimicrobial", "is_water", "eu_leave_on_banned"]
    search_fields = ["code", "inci"]
    inlines = [SubstanceAllergenInline]


@admin.register(Material)
class MaterialAdmin(FormularyEditAdmin):
    list_display = ["name", "code", "category", "use_min_percent", "use_max_percent", "physical_form", "density_g_per_ml", "storage",
                    "is_active"]
    list_filter = ["category", "viability", "storage", "physical_form", "strength_basis", "is_active", "investigational"]
    search_fields = ["code", "name", "components__substance__inci"]
    autocomplete_fields = ["active_substance"]
    inlines = [MaterialComponentInline]


@admin.register(Base)
class BaseAdmin(FormularyEditAdmin):
    list_display = ["name", "code", "vehicle", "application", "default_ph", "unit", "density_g_per_ml", "is_active"]
    list_filter = ["vehicle", "application", "is_active"]
    search_fields = ["code", "name"]
    inlines = [BaseComponentInline]


@admin.register(Incompatibility)
class IncompatibilityAdmin(FormularyEditAdmin):
    list_display = ["material_a", "material_b", "reason"]
    autocomplete_fields = ["material_a", "material_b"]


@admin.register(StockLot)
class StockLotAdmin(admin.ModelAdmin):
    list_display = ["lot_number", "material", "base", "supplier", "expires_on", "quantity_on_hand", "status"]
    list_filter = ["status", "supplier"]
    search_fields = ["lot_number", "material__code", "base__code"]
    readonly_fields = ["public_id", "created_at", "received_by"]

    def has_change_permission(self, request, obj=None):
        return False  # stock moves through the Stock page and the API, which check each change

    def has_add_permission(self, request):
        return False


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A JSON file in the shape of formulary.json. All or nothing.")


@admin.register(FormularyState)
class FormularyStateAdmin(admin.ModelAdmin):
    list_display = ["version", "revision", "updated_at"]
    readonly_fields = ["version", "revision", "updated_at", "about", "vehicles", "routes"]
    actions = ["export_json"]
    change_list_template = "admin/formulary/formularystate/change_list.html"

    def has_add_permission(self, request):
        return False

    @admin.action(description="Export the formulary as formulary.json")
    def export_json(self, request, queryset=None):
        body = json.dumps(interchange.formulary_export(), indent=1, ensure_ascii=False) + "\n"
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="formulary.json"'
        return response

    def get_urls(self):
        extra = [
            path("import/", self.admin_site.admin_view(self.import_view), name="formulary_import"),
            path("export/", self.admin_site.admin_view(self.export_json), name="formulary_export"),
        ]
        return extra + super().get_urls()

    def import_view(self, request):
        if not request.user.has_perm("formulary.change_material"):
            messages.error(request, "You may not import a formulary.")
            return redirect("admin:formulary_formularystate_changelist")
        form = ImportForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            try:
                data = json.loads(form.cleaned_data["file"].read().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems = [{"item": "file", "field": "(JSON)", "message": f"not valid JSON: {exc}"}]
            else:
                try:
                    state = interchange.formulary_import(data=data)
                except interchange.FormularyImportError as exc:
                    problems = exc.problems
                else:
                    messages.success(request, f"Imported formulary {state.label}.")
                    return redirect("admin:formulary_formularystate_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "problems": problems, "title": "Import formulary"}
        return render(request, "admin/formulary/import.html", context)
