"""Formulary pages: browsing for everyone signed in; stock for pharmacy staff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from formulary import selectors, services
from formulary.models import Base, Category, FormularyState, LotStatus, Material
from portal.access import pharmacy_staff_required
from portal.errors import ServiceError
from portal.form_input import HIDDEN_MESSAGE, FormInput, form_input_checked, post_without_nul


def _vehicle_kinds() -> list[str]:
    state = FormularyState.objects.first()
    if state is None:
        return []
    return list(state.vehicles.get("aqueous_kinds", [])) + list(state.vehicles.get("anhydrous_kinds", []))


def _browse_context(request) -> dict:
    params = request.GET
    kind = "bases" if params.get("kind") == "bases" else "ingredients"
    groups = list(selectors.allergen_group_list())
    known = {g.code for g in groups}
    free_of = [c for c in params.getlist("free_of") if c in known]
    search = params.get("q", "").strip()[:200]
    vehicle = params.get("vehicle", "")
    category = params.get("category", "") if params.get("category", "") in Category.values else ""
    if kind == "bases":
        items = selectors.base_list(search=search, vehicle=vehicle, free_of=free_of)
    else:
        items = selectors.material_list(search=search, category=category, vehicle=vehicle, free_of=free_of)
    rows = [{"item": item, "allergens": selectors.allergen_summary(item)} for item in items]
    names = {g.code: g.name for g in groups}
    for row in rows:
        row["contains"] = [names[c] for c in row["allergens"].get("carries", [])]
        row["may_contain"] = [names[c] for c in row["allergens"].get("disputed", []) + row["allergens"].get("origin_unknown", [])]
    return {
        "kind": kind, "rows": rows, "groups": groups, "free_of": free_of, "q": search, "vehicle": vehicle,
        "category": category, "categories": Category.choices, "vehicles": _vehicle_kinds(),
    }


@login_required
def formulary_browse(request):
    context = _browse_context(request)
    if request.headers.get("HX-Request"):
        return render(request, "formulary/_results.html", context)
    return render(request, "formulary/browse.html", context)


@pharmacy_staff_required
def stock(request):
    today = timezone.localdate()
    status_filter = request.GET.get("status", "")
    if status_filter not in LotStatus.values:
        status_filter = ""
    errors = request.session.pop("stock_errors", {})
    return render(
        request,
        "formulary/stock.html",
        {
            "today": today,
            "lots": selectors.stock_lot_list(status=status_filter, item=request.GET.get("item", "").strip(), today=today)[:500],
            "expiring": selectors.stock_lot_list(status=LotStatus.RELEASED, expiring_within_days=30, today=today),
            "low": selectors.low_stock(today=today),
            "status_filter": status_filter,
            "statuses": LotStatus.choices,
            "materials": Material.objects.active().only("code", "name"),
            "bases": Base.objects.active().only("code", "name", "unit"),
            "form": request.session.pop("stock_form", {}),
            "errors": errors,
            "general_errors": errors.get("__all__", []),
        },
    )


def _parse_date(raw: str):
    try:
        return dt.date.fromisoformat(raw)
    except (TypeError, ValueError):
        return None


@form_input_checked
@pharmacy_staff_required
@require_POST
def stock_receive(request):
    checked = FormInput(request.POST, request)
    for field in ("item", "lot_number", "supplier", "manufacturer", "quantity", "received_on", "expires_on", "release"):
        checked.text(field, strip=False)
    data = post_without_nul(request.POST)  # what the form shows again; a field that held a NUL is in error below
    errors: dict[str, list[str]] = {field: [message] for field, message in checked.errors.items()}
    if checked.stray:  # a NUL in a field the form does not show: said above it
        errors["__all__"] = [HIDDEN_MESSAGE]
    expires_on = _parse_date(data.get("expires_on", ""))
    received_on = _parse_date(data.get("received_on", "")) if data.get("received_on") else None
    if expires_on is None:
        errors.setdefault("expires_on", ["Enter the expiry date."])
    if data.get("received_on") and received_on is None:
        errors.setdefault("received_on", ["Enter a valid received date."])
    try:
        quantity = Decimal(data.get("quantity", ""))
    except InvalidOperation:
        quantity = None
        errors.setdefault("quantity", ["Enter the quantity received as a number."])
    item = data.get("item", "").strip()
    kind, _, code = item.partition(":")
    if not errors:
        try:
            lot = services.stock_lot_receive(
                by=request.user,
                material_code=code if kind == "material" else None,
                base_code=code if kind == "base" else None,
                lot_number=data.get("lot_number", ""),
                supplier=data.get("supplier", ""), manufacturer=data.get("manufacturer", ""),
                expires_on=expires_on,
                received_on=received_on,
                quantity=quantity,
                certificate=request.FILES.get("certificate"),
                release=data.get("release") == "1",
            )
        except ServiceError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
            errors = {("item" if field in ("material", "base") else field): msgs for field, msgs in errors.items()}
            shown = {"item", "lot_number", "supplier", "manufacturer", "quantity", "received_on", "expires_on", "certificate", "__all__"}
            for field in [f for f in errors if f not in shown]:  # a problem of no field on the form: said above it
                errors.setdefault("__all__", []).extend(errors.pop(field))
        else:
            messages.success(request, f"Received lot {lot.lot_number} of {lot.item.name} ({lot.get_status_display().lower()}).")
            return redirect("stock")
    request.session["stock_form"] = {k: v for k, v in data.items() if k != "csrfmiddlewaretoken"}
    request.session["stock_errors"] = errors
    messages.error(request, "The lot was not received; see the form.")
    return redirect("stock")


@pharmacy_staff_required
@require_POST
def stock_lot_action(request, lot_id, action):
    lot = services.stock_lot_get(public_id=lot_id)
    act = {"release": services.stock_lot_release, "quarantine": services.stock_lot_quarantine}[action]
    try:
        act(by=request.user, lot=lot)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Lot {lot.lot_number} {'released' if action == 'release' else 'quarantined'}.")
    return redirect("stock")
