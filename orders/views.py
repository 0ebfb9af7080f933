"""Prescriber pages: patients, the order page with live checks, review and sign, orders, favourites."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from formulary import selectors as formulary_selectors
from formulary.models import AllergenGroup
from formulary.rules_facts_builder import formulary_facts
from orders import selectors, services
from orders.api_validate import OrderBodySerializer
from orders.models import OrderStatus, PreparationStatus, RushStatus, Sex, Visibility
from orders.order_form import (apply_action, body_for_check, body_from_post, field_errors_by_preparation, field_names,
                               resolve_names, strip_rows, tidy_numbers)
from orders.promise import promise_estimate
from orders.presentation import preparation_view, safety, ship_to_text
from formulary.routes import route_choices
from orders.transitions import may_cancel
from orders.validation import date_of_birth_problem, order_validate, result_as_json
from portal.access import prescriber_required
from portal.audit import record_access
from portal.errors import NotFound, ServiceError
from portal.form_input import (CHOICE_MESSAGE, HIDDEN_MESSAGE, NUL_MESSAGE, FormInput, form_input_checked, nul_fields,
                               parse_public_id, post_without_nul)
from portal.page_actions import act, act_beside
from portal.states import USState

COMMON_DIRECTIONS = [
    "Apply a thin layer to the affected area twice daily.",
    "Apply a thin layer to the affected area once daily at bedtime.",
    "Apply to clean, dry skin every morning and evening.",
    "Massage into the scalp, leave for 5 minutes, then rinse. Use 2–3 times a week.",
    "Apply to the scalp once daily; do not rinse.",
    "Use as a cleanser once daily; rinse well.",
]

# The prescriber's home page (portal.views.prescriber_home) registers itself here when the URLconf loads it: the "start
# an order" form shows it again with the error beside the field, and orders may not import portal's pages (.importlinter).
_HOME_PAGE: list = []


def home_page_register(view) -> None:
    _HOME_PAGE[:] = [view]


def _facts_context() -> dict:
    facts = formulary_facts()
    return {
        "bases": sorted(facts.bases.values(), key=lambda b: b.name),
        "materials": sorted(facts.materials.values(), key=lambda m: m.name),
        # Only the routes this pharmacy compounds, topical first; sterile routes are never offered.
        "routes": route_choices(facts.non_sterile_routes),
        "groups": list(AllergenGroup.objects.all()),
        "states": USState.choices,
        "common_directions": COMMON_DIRECTIONS,
        "units": {code: b.unit for code, b in facts.bases.items()},
    }


def _patient_or_none(user, raw):
    if not raw:
        return None
    try:
        return selectors.patient_get(user=user, public_id=raw)
    except NotFound:
        return None


def run_checks(*, user, body: dict, touched: set[str] | None = None) -> dict:
    """The engine's answer for the page: exactly what POST /api/v1/orders/validate/ would say, plus the
    page's own problems (numbers as typed, ingredient names) in words.

    A field's error shows once the prescriber touched it or it holds something (`touched` None: show all,
    as on the review page); a blank draft shows no errors, only what is still missing."""
    facts = formulary_facts()
    checked, problems = body_for_check(body, facts, withdrawn=_withdrawn(body, facts))
    rows = {p: [line["_row"] for line in prep.get("ingredients", [])] for p, prep in enumerate(checked.get("preparations", []))}
    serializer = OrderBodySerializer(data=strip_rows(checked), context={"facts": facts})
    per_prep: dict[int, list[dict]] = {}
    general: list[str] = []
    valid = serializer.is_valid()
    if not valid:
        general, per_prep = field_errors_by_preparation(serializer.errors, rows)
    ours = {problem["field"] for problem in problems}
    for problem in problems:  # the page's words replace the serializer's for the same field
        per_prep.setdefault(problem["prep"], [])
        per_prep[problem["prep"]] = [e for e in per_prep[problem["prep"]] if e["field"] != problem["field"]]
    for problem in problems:
        per_prep[problem["prep"]].append({"field": problem["field"], "message": problem["message"],
                                          "candidates": problem.get("candidates", ())})
    values = _field_values(body)

    def shown(error) -> bool:
        return touched is None or error["field"] in touched or error["field"] in ours or bool(values.get(error["field"]))

    hidden = 0
    for index, errors in per_prep.items():
        kept = [e for e in errors if shown(e)]
        hidden += len(errors) - len(kept)
        per_prep[index] = kept
    inline = {e["field"]: e["message"] for errors in per_prep.values() for e in errors if e["field"]}
    count = len(body.get("preparations", []))
    if not valid or problems:
        return {"ok": False, "general": general, "hidden": hidden, "inline": inline, "slots": field_names(body),
                "preps": [{"index": i, "field_errors": per_prep.get(i, []), "result": None} for i in range(count)]}
    try:
        outcome = order_validate(user=user, body=serializer.validated_data, facts=facts)
    except ServiceError as exc:
        general = [exc.message]
        if "ship_to" in exc.fields:
            general = ["Choose the patient: the order ships to their address."]
        return {"ok": False, "general": general, "preps": [], "inline": {}, "slots": field_names(body), "hidden": 0}
    preps = []
    for index, (result, prep) in enumerate(zip(outcome.results, serializer.validated_data["preparations"])):
        answer = result_as_json(result, facts, prep["unit"])
        answer["errors"] = [f for f in answer["findings"] if f["severity"] == "error"]
        answer["warnings"] = [f for f in answer["findings"] if f["severity"] == "warning"]
        preps.append({"index": index, "field_errors": [], "result": answer})
    return {"ok": outcome.ok, "general": [], "preps": preps, "rules_version": outcome.rules_version, "inline": {},
            "slots": field_names(body), "hidden": 0, "validated": serializer.validated_data}


def _field_values(body: dict) -> dict[str, str]:
    values = {}
    for p, prep in enumerate(body.get("preparations", [])):
        for field in ("base", "quantity", "target_ph", "refills", "directions"):
            values[f"prep-{p}-{field}"] = str(prep.get(field) or "").strip() if field != "refills" else ""
        for i, line in enumerate(prep.get("ingredients", [])):
            values[f"prep-{p}-ing-{i}-code"] = str(line.get("ingredient") or "").strip()
            values[f"prep-{p}-ing-{i}-percent"] = str(line.get("percent") or "").strip()
    return values


def _withdrawn(body: dict, facts) -> dict[str, str]:
    """Codes in the body that the formulary withdrew ({code: name}): their lines are marked, never dropped."""
    codes = {str(line.get("ingredient") or "") for prep in body.get("preparations", []) for line in prep.get("ingredients") or []}
    unknown = {code for code in codes if code and code not in facts.materials}
    return formulary_selectors.withdrawn_material_names(unknown) if unknown else {}


def _rows(body: dict) -> list[dict]:
    """The body as the form shows it: ingredient names (not codes), the base's unit, withdrawn lines marked."""
    facts = formulary_facts()
    withdrawn = _withdrawn(body, facts)
    preps = body.get("preparations") or [{}]
    rows = []
    for index, prep in enumerate(preps):
        lines = []
        for line in prep.get("ingredients") or []:
            code = str(line.get("ingredient") or "")
            material = facts.materials.get(code)
            lines.append({**line, "name": material.name if material else withdrawn.get(code, code), "withdrawn": code in withdrawn,
                          "percent": line.get("percent") if line.get("percent") is not None else ""})
        base = facts.bases.get(prep.get("base") or "")
        rows.append({"index": index, **prep, "ingredients": lines, "exclusions": prep.get("exclusions") or {},
                     "unit": base.unit if base else prep.get("unit") or "g", "base_name": base.name if base else ""})
    return rows


def _edit_context(request, order, body, checks=None, notice="", touched=None, input_errors: dict[str, str] | None = None) -> dict:
    patient = _patient_or_none(request.user, body.get("patient_id"))
    touched = set() if touched is None else touched
    checks = checks if checks is not None else run_checks(user=request.user, body=body, touched=touched)
    inline = checks.get("inline", {})
    rows = _rows(body)
    for row in rows:  # each field's own error, beside it
        p = row["index"]
        row["errors"] = {f: inline.get(f"prep-{p}-{f}", "") for f in ("base", "quantity", "target_ph", "refills", "directions")}
        for i, line in enumerate(row["ingredients"]):
            line["error_code"] = inline.get(f"prep-{p}-ing-{i}-code", "")
            line["error_percent"] = inline.get(f"prep-{p}-ing-{i}-percent", "")
    checks["slot_messages"] = [(name, inline.get(name, "")) for name in checks.get("slots", [])
                               if not name.endswith(("-route", "-directions", "-refills", "-refill_interval_days"))]
    input_errors = input_errors or {}
    for row in rows:  # a refused input (portal.form_input), beside its field
        p = row["index"]
        row["input_errors"] = {f: input_errors.get(f"prep-{p}-{f}", "") for f in ROW_FIELDS}
        for i, line in enumerate(row["ingredients"]):
            line["input_error_code"] = input_errors.get(f"prep-{p}-ing-{i}-code", "")
            line["input_error_percent"] = input_errors.get(f"prep-{p}-ing-{i}-percent", "")
    placed = {f"prep-{row['index']}-{f}" for row in rows for f in ROW_FIELDS} | set(PAGE_FIELDS) | {
        f"prep-{row['index']}-ing-{i}-{f}" for row in rows for i in range(len(row["ingredients"])) for f in ("code", "percent")}
    unplaced = [name for name in input_errors if name not in placed]  # a hidden field: no place beside it
    return {
        **_facts_context(),
        "order": order,
        "body": body,
        "rows": rows,
        "patient": patient,
        "patients": selectors.patient_list(user=request.user)[:500],
        "checks": checks,
        "touched": ",".join(sorted(touched)),
        "notice": notice,
        "favourites": selectors.favourite_list(user=request.user),
        "visibilities": Visibility.choices,
        "input_errors": {f: input_errors.get(f, "") for f in PAGE_FIELDS},
        "input_refused": len(input_errors), "input_hidden": HIDDEN_MESSAGE if unplaced else "",
    }


ROW_FIELDS = ("base", "quantity", "route", "target_ph", "directions", "refills", "exclude", "preservative_free", "fav_name",
              "fav_visibility")
PAGE_FIELDS = ("patient", "encounter_state", "clinical_difference_note")


def _edit_refused(request, order, body, post, touched, input_errors: dict[str, str]):
    """The order form again after a refused input: every field as typed (a NUL taken out), each error beside its
    field, a sentence above; nothing saved. An htmx check swaps the whole form in (HX-Retarget), so the errors show."""
    context = _edit_context(request, order, body, touched=touched, input_errors=input_errors)
    for row in context["rows"]:  # the favourite's name is not part of the order: kept from the form
        row["fav_name"] = post.get(f"prep-{row['index']}-fav_name", "")
    response = render(request, "orders/edit.html" if not request.headers.get("HX-Request") else "orders/_form.html", context)
    if request.headers.get("HX-Request"):
        response["HX-Retarget"] = "#order-form"
        response["HX-Reswap"] = "outerHTML"
    return response


@prescriber_required
def ingredient_search(request):
    """The order form's ingredient picker: matches by name, synonym or code as the prescriber types."""
    from orders.ingredients import ingredient_search as search

    options = search(request.GET.get("q", "")[:100], formulary_facts())
    return render(request, "orders/_ingredient_options.html", {"options": options, "q": request.GET.get("q", "")[:100]})


@prescriber_required
def order_list_page(request):
    params = request.GET
    patient = _patient_or_none(request.user, params.get("patient"))
    status = params.get("status", "") if params.get("status", "") in OrderStatus.values else ""

    def day(raw):
        try:
            return dt.date.fromisoformat(raw)
        except (TypeError, ValueError):
            return None

    orders = selectors.order_list(user=request.user, status=status, patient=patient, date_from=day(params.get("from")),
                                  date_to=day(params.get("to")))[:200]
    return render(request, "orders/list.html", {
        "orders": orders, "statuses": OrderStatus.choices, "status": status, "patient": patient,
        "patients": selectors.patient_list(user=request.user)[:500], "from": params.get("from", ""), "to": params.get("to", ""),
    })


@form_input_checked
@prescriber_required
@require_POST
def order_new(request):
    """A new draft: blank, for a patient, or from a favourite (with the patient chosen beside it)."""
    checked = FormInput(request.POST, request)
    patient_id = checked.public_id("patient")
    favourite_id = checked.public_id("favourite", message="This favourite is not one of yours (the page may be out of date). "
                                                           "Nothing was started: choose a favourite below again.")
    patient = _patient_or_none(request.user, patient_id) if patient_id else None
    if patient_id and patient is None and "patient" not in checked.errors:
        checked.error("patient", "This patient is not one of your clinic's. Choose again from the list.")
    favourite = None
    if favourite_id and checked.ok:
        try:
            favourite = selectors.favourite_get(user=request.user, public_id=favourite_id)
        except NotFound:
            checked.error("favourite", "This favourite is no longer available (deleted, or no longer shared). Nothing was "
                                       "started: choose another below.")
    if not checked.ok:  # the page the form was on, the choice kept and the error beside it; no draft made
        start_form = {"favourite": checked.values.get("favourite", ""), "values": checked.values, "errors": checked.errors}
        if request.POST.get("from") == "favourites":
            return favourites_page(request, start_form=start_form)
        return _HOME_PAGE[0](request, start_form=start_form)
    prescriber = services.prescriber_of(request.user)
    if favourite is not None:
        order = services.order_start_from_favourite(prescriber=prescriber, by=request.user, favourite=favourite, patient=patient)
    else:
        body = {}
        if patient is not None:
            exclusions = [g.code for g in patient.allergies.all()]
            body = {"preparations": [{"base": "", "quantity": "", "unit": "g", "route": "topical",
                                      "ingredients": [{"ingredient": "", "percent": ""}],
                                      "exclusions": {"allergen_groups": exclusions, "preservative_free": False}}]}
        order = services.order_draft_create(prescriber=prescriber, by=request.user, body=body, patient=patient)
    return redirect("order-edit", order_id=order.public_id)


def _amending(order) -> bool:
    """An order the pharmacist asked about, opened for a new version (services.order_amend_start)."""
    return order.status == OrderStatus.CLARIFICATION_REQUESTED and bool(order.draft.get("amending"))


@form_input_checked
@prescriber_required
def order_edit(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    if order.status != OrderStatus.DRAFT and not _amending(order):
        return redirect("order-detail", order_id=order.public_id)
    if request.method != "POST":
        record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
        return render(request, "orders/edit.html", _edit_context(request, order, order.draft))

    # A NUL anywhere, or a patient id that is not one: the form again with the error beside the field and what was
    # typed (without the NUL); the draft is not saved and no button's action runs.
    input_errors = {name: NUL_MESSAGE for name in nul_fields(request.POST)}
    post = post_without_nul(request.POST) if input_errors else request.POST
    units = _facts_context()["units"]
    body = tidy_numbers(resolve_names(body_from_post(post, units=units), formulary_facts()))
    touched = {name for name in post.get("touched", "").split(",") if name}
    if _amending(order):
        body["patient_id"] = str(order.patient.public_id)  # a new version is for the same patient
    elif body.get("patient_id") and parse_public_id(body["patient_id"]) is None:
        input_errors["patient"] = CHOICE_MESSAGE  # a choice, not text: a NUL in it makes it no id at all
    patient = _patient_or_none(request.user, body.get("patient_id"))
    if body.get("patient_id") and patient is None:
        body["patient_id"] = None
    if input_errors:
        return _edit_refused(request, order, body, post, touched, input_errors)
    action = request.POST.get("action", "check")
    notice = ""
    allergies = [g.code for g in patient.allergies.all()] if patient else []
    if action == "patient" and patient is not None:
        for prep in body["preparations"]:
            excl = prep["exclusions"]["allergen_groups"]
            prep["exclusions"]["allergen_groups"] = list(dict.fromkeys([*excl, *allergies]))
        if not body.get("encounter_state"):
            body["encounter_state"] = patient.state
    elif action.startswith(("add_", "remove_")):
        body = apply_action(body, action, prefill_exclusions=allergies)
    elif action.startswith("save_favourite:"):
        index = int(action.split(":")[1]) if action.split(":")[1].isdigit() else -1
        if 0 <= index < len(body["preparations"]):
            try:
                favourite = services.favourite_save(
                    prescriber=services.prescriber_of(request.user),
                    name=request.POST.get(f"prep-{index}-fav_name", ""),
                    visibility=request.POST.get(f"prep-{index}-fav_visibility", Visibility.MINE),
                    preparation=body["preparations"][index],
                )
                notice = f"Saved “{favourite.name}” to your favourites."
            except ServiceError as exc:
                notice = exc.message
    try:
        if _amending(order):
            services.order_amend_draft_save(order=order, body=body)
        else:
            services.order_draft_save(order=order, body=body, patient=patient)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("order-detail", order_id=order.public_id)

    if action == "review":
        url = reverse("order-review", kwargs={"order_id": order.public_id})
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    context = _edit_context(request, order, body, notice=notice, touched=touched)
    if not request.headers.get("HX-Request"):
        return render(request, "orders/edit.html", context)
    if action == "check":
        return render(request, "orders/_checks.html", {**context, "oob": True})
    return render(request, "orders/_form.html", context)


@form_input_checked
@prescriber_required
def order_review(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    amending = _amending(order)
    if order.status != OrderStatus.DRAFT and not amending:
        return redirect("order-detail", order_id=order.public_id)
    checks = run_checks(user=request.user, body=order.draft)
    error = ""
    checked = FormInput(request.POST, request)
    if request.method == "POST":
        checked.text("note", max_length=2000)
        checked.choice("attest", ("on", ""), default="")
    if request.method == "POST" and not checked.ok:
        error = "Nothing was signed: see the field marked below."
    elif request.method == "POST" and amending:
        if request.POST.get("attest") != "on":
            error = "Tick the attestation to sign."
        elif checks["ok"]:
            try:
                services.order_amend(order=order, by=request.user, body=checks["validated"], note=request.POST.get("note", ""))
            except services.OrderNotAcceptable:
                checks = run_checks(user=request.user, body=order.draft)
            except ServiceError as exc:
                error = exc.message
            else:
                messages.success(request, f"Order {order.number} is signed again as a new version and back with the pharmacist.")
                return redirect("order-detail", order_id=order.public_id)
    elif request.method == "POST":
        if request.POST.get("attest") != "on":
            error = "Tick the attestation to sign."
        elif checks["ok"]:
            try:
                services.order_submit(user=request.user, body=checks["validated"], source="web", draft=order)
            except services.OrderNotAcceptable:
                checks = run_checks(user=request.user, body=order.draft)
            except ServiceError as exc:
                error = exc.message
            else:
                messages.success(request, f"Order {order.number} is signed and on its way to the pharmacy.")
                return redirect("order-detail", order_id=order.public_id)
    patient = _patient_or_none(request.user, order.draft.get("patient_id"))
    record_access(request, object_type="order", object_id=order.public_id, patient_id=patient.pk if patient else None)
    facts = formulary_facts()
    names = {code: m.name for code, m in facts.materials.items()}
    rows = _rows(order.draft)
    for row in rows:
        row["ingredients"] = [{**line, "name": names.get(line.get("ingredient"), "")} for line in row["ingredients"]]
        base = facts.bases.get(row.get("base") or "")
        row["safety"] = safety(patient=patient, base=base.name if base else (row.get("base") or "No base chosen"),
                               quantity=row.get("quantity", ""), unit=base.unit if base else row.get("unit", ""),
                               route=row.get("route") or "topical", ingredients=row["ingredients"], exclusions=row["exclusions"],
                               directions=row.get("directions", ""))
    results = [prep["result"] for prep in checks.get("preps", []) if prep.get("result")]
    estimate = promise_estimate(preparations=len(results), refrigerate=any(r.get("storage") == "refrigerate" for r in results),
                                order_id=order.pk) if checks["ok"] else None
    return render(request, "orders/review.html", {
        "order": order, "checks": checks, "patient": patient, "rows": rows, "error": error, "attestation": services.ATTESTATION,
        "amending": amending, "version": order.amendments.count() + 2 if amending else None,
        "estimate": estimate, "cutoff": settings.PHARMACY_CUTOFF, "input": {"errors": checked.errors, "values": checked.values},
    })


@prescriber_required
def order_detail(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
    return render(request, "orders/detail.html", _detail_context(request, order))


def _detail_context(request, order) -> dict:
    events = list(selectors.order_events(order=order))
    preparations = list(order.preparations.all())
    holds = selectors.hold_reasons(order=order)
    open_preparations = [p for p in preparations if p.status not in (PreparationStatus.SHIPPED, PreparationStatus.DELIVERED,
                                                                     PreparationStatus.CANCELLED)]
    shipments = list(order.shipments.order_by("shipped_at"))
    delivered = [s.delivered_at for s in shipments if s.delivered_at]
    return {
        "order": order, "events": events, "preps": [{**preparation_view(p), "hold_reason": holds.get(p.pk, "")} for p in preparations],
        "history": selectors.order_history(order=order, pharmacy=False),
        "question": next((e for e in reversed(events) if e.kind == "clarification_requested"), None),
        "patient_link": _patient_link_url(order),
        "can_cancel": may_cancel(order=order, by=request.user),
        "shipments": shipments, "ship_to": ship_to_text(order),
        # Every parcel arrived: the day the last one did (the delivery card says so instead of the carrier's estimate).
        "delivered_on": max(delivered) if order.status == OrderStatus.DELIVERED and delivered else None,
        "dispatched": order.status in DISPATCHED,
        "shipped": any(p.status in (PreparationStatus.SHIPPED, PreparationStatus.DELIVERED) for p in preparations),
        "preparations": preparations,
        "can_rush": order.status in services.RUSH_OPEN and order.rush in (RushStatus.NONE, RushStatus.DECLINED)
        and bool(open_preparations),
    }


def _detail_refused(request, order, form: str, checked: FormInput):
    """The order page again, the refused form showing its field errors and what was typed; nothing was changed."""
    record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
    context = _detail_context(request, order)
    context["input"] = {"form": form, "errors": checked.errors, "values": checked.values}
    return render(request, "orders/detail.html", context)


# An order the pharmacy has approved and is making, shipping or has delivered: the patient's link applies.
DISPATCHED = (OrderStatus.APPROVED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


def _patient_link_url(order):
    from orders.patient_links import link_url, patient_link_current

    link = patient_link_current(order=order)
    return link_url(link) if link else None


@form_input_checked
@prescriber_required
@require_POST
def order_cancel(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    reason = checked.text("reason", max_length=1000)
    if not checked.ok:
        return _detail_refused(request, order, "cancel", checked)
    act(request, lambda: services.order_cancel(order=order, by=request.user, reason=reason),
        f"Order {order.number} is cancelled.")
    return redirect("order-detail", order_id=order.public_id)


@prescriber_required
@require_POST
def order_patient_link(request, order_id, action):
    from orders.patient_links import patient_link_issue, patient_link_revoke

    order = selectors.order_get(user=request.user, public_id=order_id)
    if action == "revoke":
        patient_link_revoke(order=order)
        messages.success(request, "The patient's link no longer works.")
    elif order.status in DISPATCHED:
        patient_link_issue(order=order)
        messages.success(request, "A new link is ready; the old one no longer works.")
    else:
        messages.error(request, "A status link is made once the order is approved.")
    return redirect("order-detail", order_id=order.public_id)


@form_input_checked
@prescriber_required
@require_POST
def order_rush(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    reason = checked.text("reason", max_length=1000)
    if not checked.ok:
        return _detail_refused(request, order, "rush", checked)
    if not act_beside(request, lambda: services.order_rush_request(order=order, by=request.user, reason=reason),
                      "Rush asked: the pharmacist will accept it (with new dates) or tell you why not.", checked, ("reason",)) \
            and not checked.ok:  # beside the reason, with what was typed
        return _detail_refused(request, order, "rush", checked)
    return redirect("order-detail", order_id=order.public_id)


@form_input_checked
@prescriber_required
@require_POST
def order_answer(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    answer = checked.text("answer", max_length=2000)
    if not checked.ok:
        return _detail_refused(request, order, "answer", checked)
    act(request, lambda: services.order_answer_clarification(order=order, by=request.user, answer=answer),
        "Your answer is with the pharmacist; the order is back in their queue.")
    return redirect("order-detail", order_id=order.public_id)


@prescriber_required
@require_POST
def order_amend(request, order_id):
    """Answer the pharmacist by changing the order: open its preparations for editing (a new version when signed)."""
    order = selectors.order_get(user=request.user, public_id=order_id)
    try:
        services.order_amend_start(order=order, by=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("order-detail", order_id=order.public_id)
    return redirect("order-edit", order_id=order.public_id)


@prescriber_required
@require_POST
def order_reorder(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    draft = services.order_reorder(prescriber=services.prescriber_of(request.user), by=request.user, order=order)
    messages.success(request, f"A new draft from {order.number}: check it and sign.")
    return redirect("order-edit", order_id=draft.public_id)


# --- Patients -------------------------------------------------------------------------------

PATIENT_FORM_FIELDS = ("first_name", "last_name", "date_of_birth", "sex", "email", "phone", "address_line1", "address_line2",
                       "city", "state", "postal_code", "notes", "external_id")


def _patient_data(post) -> tuple[dict, dict]:
    checked = FormInput(post)
    data = {field: checked.text(field) for field in PATIENT_FORM_FIELDS}
    errors = {field: [message] for field, message in checked.errors.items()}  # a NUL: shown beside its field
    if errors.get("date_of_birth"):
        data["date_of_birth"] = None
    if data["date_of_birth"] and not errors.get("date_of_birth"):
        try:
            data["date_of_birth"] = dt.date.fromisoformat(data["date_of_birth"])
        except ValueError:
            errors["date_of_birth"] = ["Enter the date of birth as a date."]
        else:  # a future (or pre-1900) date is said with every other field's error, not after they are fixed
            problem = date_of_birth_problem(data["date_of_birth"])
            if problem:
                errors["date_of_birth"] = [problem]
    else:
        data["date_of_birth"] = None
    if data["sex"] not in Sex.values:
        data["sex"] = Sex.UNKNOWN
    if data["state"] not in USState.values:
        errors["state"] = ["Choose the state the patient lives in."]
    # Every missing field at once, in words, beside it (the service checks them again).
    for field, words in (("first_name", "the first name"), ("last_name", "the last name"), ("address_line1", "the street address"),
                         ("city", "the city"), ("postal_code", "the ZIP code")):
        if not data[field] and field not in errors:
            errors[field] = [f"Enter {words}."]
    if data["date_of_birth"] is None and "date_of_birth" not in errors:
        errors["date_of_birth"] = ["Enter the date of birth."]
    for field, limit in (("first_name", 100), ("last_name", 100), ("email", 254), ("phone", 30), ("address_line1", 200),
                         ("address_line2", 200), ("city", 100), ("postal_code", 10), ("notes", 2000), ("external_id", 100)):
        if len(data[field]) > limit and field not in errors:
            errors[field] = [f"At most {limit} characters."]
    data["allergies"] = checked.texts("allergies")
    if "allergies" in checked.errors:
        errors["allergies"] = [checked.errors["allergies"]]
    if checked.stray:  # a NUL in a field the page does not show (which button, a hidden one): said above the form
        errors.setdefault("__all__", []).append(HIDDEN_MESSAGE)
    return data, errors


@prescriber_required
def patient_list_page(request):
    search = request.GET.get("q", "")[:100]
    patients = selectors.patient_list(user=request.user, search=search)[:200]
    template = "orders/_patient_rows.html" if request.headers.get("HX-Request") else "orders/patients.html"
    return render(request, template, {"patients": patients, "q": search})


@form_input_checked
@prescriber_required
def patient_form_page(request, patient_id=None):
    patient = selectors.patient_get(user=request.user, public_id=patient_id) if patient_id else None
    if patient is not None and request.method != "POST":
        record_access(request, object_type="patient", object_id=patient.public_id, patient_id=patient.pk)
    errors, data = {}, {}
    if request.method == "POST":
        data, errors = _patient_data(request.POST)
        if not errors:
            try:
                if patient is None:
                    patient = services.patient_create(prescriber=services.prescriber_of(request.user), data=data)
                else:
                    services.patient_update(patient=patient, data=data)
            except ServiceError as exc:
                errors = exc.fields or {"__all__": [exc.message]}
            else:
                messages.success(request, f"Saved {patient.first_name} {patient.last_name}.")
                if request.POST.get("then") == "order":
                    draft = services.order_draft_create(
                        prescriber=services.prescriber_of(request.user), by=request.user, patient=patient,
                        body={"preparations": [{"base": "", "quantity": "", "unit": "g", "route": "topical",
                                                "ingredients": [{"ingredient": "", "percent": ""}],
                                                "exclusions": {"allergen_groups": [g.code for g in patient.allergies.all()],
                                                               "preservative_free": False}}],
                              "encounter_state": patient.state},
                    )
                    return redirect("order-edit", order_id=draft.public_id)
                return redirect("patients")
    elif patient is not None:
        data = {field: getattr(patient, field) for field in PATIENT_FORM_FIELDS}
        data["allergies"] = [g.code for g in patient.allergies.all()]
    return render(request, "orders/patient_form.html", {
        "patient": patient, "data": data, "errors": errors, "groups": AllergenGroup.objects.all(), "states": USState.choices,
        "sexes": Sex.choices, "today": dt.date.today().isoformat(),
    })


@prescriber_required
def favourites_page(request, *, start_form: dict | None = None, rename_form: dict | None = None):
    search = request.GET.get("q", "")[:100]
    facts = formulary_facts()
    favourites = list(selectors.favourite_list(user=request.user, search=search))
    withdrawn = _withdrawn({"preparations": [f.preparation for f in favourites]}, facts)
    for favourite in favourites:  # names, not codes; a withdrawn ingredient is said so
        prep = favourite.preparation
        base = facts.bases.get(prep.get("base") or "")
        favourite.base_name = base.name if base else prep.get("base", "")
        favourite.lines = [{"name": facts.materials[line["ingredient"]].name if line.get("ingredient") in facts.materials
                            else withdrawn.get(line.get("ingredient"), line.get("ingredient")),
                            "percent": line.get("percent"), "withdrawn": line.get("ingredient") in withdrawn}
                           for line in prep.get("ingredients") or [] if line.get("ingredient")]
        favourite.mine = favourite.owner.user_id == request.user.pk
    template = "orders/_favourite_rows.html" if request.headers.get("HX-Request") else "orders/favourites.html"
    return render(request, template, {"favourites": favourites, "q": search, "patients": selectors.patient_list(user=request.user)[:500],
                                      "start_form": start_form or {}, "rename_form": rename_form or {}})


@form_input_checked
@prescriber_required
@require_POST
def favourite_change(request, favourite_id, action):
    favourite = selectors.favourite_get(user=request.user, public_id=favourite_id)
    prescriber = services.prescriber_of(request.user)
    checked = FormInput(request.POST, request)
    if action == "rename":
        name = checked.text("name", max_length=120)
        if not checked.ok:  # the favourites again, the name as typed beside its error; nothing renamed
            return favourites_page(request, rename_form={"favourite": str(favourite.public_id), "values": checked.values,
                                                         "errors": checked.errors})
        act(request, lambda: services.favourite_rename(favourite=favourite, prescriber=prescriber, name=name),
            "The favourite is renamed.")
    elif checked.ok:  # a NUL in the delete form: nothing deleted, said above the list
        name = favourite.name
        act(request, lambda: services.favourite_delete(favourite=favourite, prescriber=prescriber), f"“{name}” is deleted.")
    return redirect("favourites")


@form_input_checked
@prescriber_required
@require_POST
def order_discard(request, order_id):
    order = selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    target = checked.text("next")
    if checked.ok:  # a NUL in the form: nothing discarded, said on the page it goes back to
        act(request, lambda: services.order_draft_discard(order=order, by=request.user), f"Draft {order.number} is discarded.")
    return redirect(target if target in ("orders", "prescriber-home") else "prescriber-home")


@prescriber_required
def patient_page(request, patient_id):
    """The patient: details, allergies, and their orders with each preparation's status; reorder from any."""
    patient = selectors.patient_get(user=request.user, public_id=patient_id)
    record_access(request, object_type="patient", object_id=patient.public_id, patient_id=patient.pk)
    orders = selectors.patient_orders(user=request.user, patient=patient)[:100]
    return render(request, "orders/patient.html", {"patient": patient, "orders": orders, "allergies": list(patient.allergies.all())})
