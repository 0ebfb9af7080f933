"""Master formulation record pages (pharmacy staff): the library (search by ingredient, status, review flag), a
record, two versions side by side, a printable copy; a pharmacist completes a draft, approves, retires, revises, or
clears a review flag. The same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from formulary import mfr_content, mfrs, selectors
from formulary.models import MfrStatus
from portal.access import pharmacy_staff_required
from portal.errors import ServiceError
from portal.form_input import FormInput, form_input_checked
from portal.models import Role

# The fields as a record prints them, in <795> 7.2's order; each (field, heading).
SECTIONS = (
    ("name", "Name"), ("strength", "Strength"), ("dosage_form", "Dosage form"), ("route", "Route"), ("target_ph", "Target pH"),
    ("quantity_unit", "Quantity unit"), ("components", "Components"), ("container_closure", "Container and closure"),
    ("equipment", "Equipment and supplies"), ("steps", "Compounding steps"), ("calculations", "Calculations"),
    ("physical_description", "Physical description"), ("bud", "Beyond-use date and storage"), ("bud_source", "Source of the beyond-use date"),
    ("labelling", "Labelling"), ("qc", "Quality control"), ("rules_version", "Checked with rules version"), ("notes", "Notes"),
)


def _text(mfr, field: str) -> list[str]:
    """A field as lines of plain text, for the side-by-side comparison."""
    if field == "components":
        return [f"{c['name']} — {c.get('strength') or c.get('role', '')} — {c['amount_per_100']} per 100 — {c['characteristics']} — {c['grade']}"
                for c in mfr.components]
    if field == "steps":
        return [f"{i}. {step}" for i, step in enumerate(mfr.steps, start=1)]
    if field == "calculations":
        calc = mfr.calculations or {}
        lines = [f"Overage {calc.get('overage_percent', '')} %", calc.get("batch", ""), f"Minimum weighable quantity {calc.get('minimum_weighable_g', '')} g",
                 calc.get("aliquot", "")]
        return lines + [f"{row['name']}: {row['grams_per_100']} g per 100" for row in calc.get("per_100", [])]
    if field == "qc":
        return [f"{t['test']}: {t['method']}; expected {t['expected']}" for t in mfr.qc]
    if field == "route":
        return [mfr.route_name]
    if field == "bud":
        return [f"{mfr.beyond_use_days} days from compounding · {mfr.storage_text}"]
    value = getattr(mfr, field)
    return [] if value in (None, "") else [str(value)]


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and "\x00" not in target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def _do(request, action, success: str) -> bool:
    try:
        action()
    except ServiceError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


@pharmacy_staff_required
def mfr_library(request):
    params = request.GET
    status = params.get("status", "") if params.get("status", "") in MfrStatus.values else ""
    review = params.get("review") == "1"
    search = params.get("q", "").strip()[:100]
    records = list(selectors.mfr_list(ingredient=search, status=status, needs_review=True if review else None)[:200])
    return render(request, "formulary/mfr_library.html", {"records": records, "q": search, "status": status, "review": review,
                                                          "statuses": MfrStatus.choices})


@pharmacy_staff_required
def mfr_detail(request, mfr_id):
    mfr = selectors.mfr_get(public_id=mfr_id)
    versions = selectors.mfr_versions(mfr=mfr)
    pharmacist = request.user.role == Role.PHARMACIST
    return render(request, "formulary/mfr_detail.html", {
        "mfr": mfr, "versions": versions, "pharmacist": pharmacist,
        "missing": mfr_content.missing_fields(mfr) if mfr.status == MfrStatus.DRAFT else {},
        "others": [v for v in versions if v.pk != mfr.pk], "orders": selectors.mfr_order_numbers(mfr=mfr),
        "form": request.session.pop("mfr_form", None), "form_errors": request.session.pop("mfr_form_errors", {}),
        "review_form": request.session.pop("mfr_review_form", {}),
    })


@pharmacy_staff_required
def mfr_print(request, mfr_id):
    mfr = selectors.mfr_get(public_id=mfr_id)
    return render(request, "formulary/mfr_print.html", {"mfr": mfr})


@pharmacy_staff_required
def mfr_compare(request, mfr_id, other_id):
    left, right = selectors.mfr_get(public_id=mfr_id), selectors.mfr_get(public_id=other_id)
    rows = []
    for field, heading in SECTIONS:
        a, b = _text(left, field), _text(right, field)
        rows.append({"heading": heading, "left": a, "right": b, "differs": a != b})
    return render(request, "formulary/mfr_compare.html", {"left": left, "right": right, "rows": rows,
                                                          "same_formulation": left.formulation_key == right.formulation_key})


@form_input_checked
@pharmacy_staff_required
@require_POST
def mfr_act(request, mfr_id, action):
    mfr = selectors.mfr_get(public_id=mfr_id)
    by = request.user
    here = f"/pharmacy/mfrs/{mfr.public_id}/"
    checked = FormInput(request.POST, request)
    if action == "edit":
        data = {name: checked.text(name, strip=False) for name in mfrs.EDITABLE}
        if not checked.ok:  # the draft page again, every field as typed (without the NUL), the error beside it
            request.session["mfr_form"] = data
            request.session["mfr_form_errors"] = checked.errors
            return _back(request, here)
    elif action == "review":
        note = checked.text("note", max_length=mfrs.REVIEW_NOTE_MAX)
        if not checked.ok:
            request.session["mfr_review_form"] = {"note": note, "error": checked.errors.get("note", "")}
            return _back(request, here)
    elif not checked.ok:  # approve, retire, revise: a NUL in the form acts on nothing (said above the page)
        return _back(request, here)
    if action == "approve":
        _do(request, lambda: mfrs.mfr_approve(mfr=mfr, by=by), f"{mfr.label} approved: preparations of this formulation follow it.")
    elif action == "retire":
        _do(request, lambda: mfrs.mfr_retire(mfr=mfr, by=by), f"{mfr.label} retired.")
    elif action == "review":
        _do(request, lambda: mfrs.mfr_review_clear(mfr=mfr, by=by, note=note),
            f"{mfr.label} reviewed: it stands as it is.")
    elif action == "revise":
        made = {}

        def revise():
            made["mfr"] = mfrs.mfr_revise(mfr=mfr, by=by)

        if _do(request, revise, f"Version {mfr.version + 1} started as a draft: change it, then approve it."):
            return redirect(f"/pharmacy/mfrs/{made['mfr'].public_id}/")
    elif action == "edit":
        try:
            mfrs.mfr_update(mfr=mfr, by=by, data=data)
        except ServiceError as exc:  # the draft page again, every field as typed, each error beside its field
            messages.error(request, exc.message)
            request.session["mfr_form"] = data
            request.session["mfr_form_errors"] = {name: " ".join(words) if isinstance(words, list) else str(words)
                                                  for name, words in (exc.fields or {}).items()}
        else:
            messages.success(request, f"{mfr.label} saved.")
    return _back(request, here)
