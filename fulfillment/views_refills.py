"""Refill and renewal pages (issue 18), for the prescriber and the pharmacy: a preparation's page (refills left, when
the next one is due, every fill so far) with "Request a refill" and "Ask the prescriber to renew"; and the
prescriber's answers to a renewal request (approve, change and sign, deny). Same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fulfillment import refills, renewals, selectors
from fulfillment.api_refills import fill_rows
from orders import selectors as order_selectors
from orders.presentation import preparation_safety
from portal.access import prescriber_required, role_required
from portal.audit import record_access
from portal.errors import ServiceError
from portal.form_input import FormInput, form_input_checked
from portal.models import Role

PEOPLE = (Role.PRESCRIBER, Role.PHARMACIST, Role.TECHNICIAN, Role.PHARMACY_ADMIN)
people_required = role_required(*PEOPLE)
STATUS_WORDS = {"queued": "Waiting to be made", "compounding": "Being made", "qc": "Quality check", "ready": "Ready to ship",
                "shipped": "Shipped", "delivered": "Delivered", "on_hold": "On hold", "rework": "Being remade", "cancelled": "Cancelled"}


def preparation_context(prep, user) -> dict:
    outlook = refills.refill_outlook(prep)
    fills = fill_rows(prep, user)
    for row in fills:
        row["label"] = "Original fill" if row["fill"] == 0 else f"Refill {row['fill']}"
        row["status_text"] = STATUS_WORDS.get(row["status"], row["status"])
    refusal = outlook["refusal"]
    return {
        "prep": prep, "order": prep.order, "safety": preparation_safety(prep), "outlook": outlook, "fills": fills,
        "refusal": refusal, "renewable": refusal is not None and refusal.code in renewals.RENEWABLE,
        "pending_renewal": prep.renewal_requests.filter(status="pending").first(),
        "requests": selectors.refill_requests_of(user=user, preparation=prep),
        "pharmacist": user.role in (Role.PHARMACIST, Role.PHARMACY_ADMIN),
        "staff": user.role != Role.PRESCRIBER,
    }


@people_required
def preparation_page(request, preparation_id):
    prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
    record_access(request, object_type="preparation", object_id=prep.public_id, patient_id=prep.order.patient_id)
    return render(request, "fulfillment/preparation.html", preparation_context(prep, request.user))


@form_input_checked
@people_required
@require_POST
def preparation_refill(request, preparation_id):
    prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
    form = FormInput(request.POST, request)
    note, override_reason = form.text("note"), form.text("override_reason")
    if not form.ok:  # a NUL: the form again, the error beside its field, what was typed kept (without it); nothing saved
        context = preparation_context(prep, request.user)
        context["input"] = {"errors": form.errors, "values": form.values, "message": "Nothing was requested: see the field marked below."}
        return render(request, "fulfillment/preparation.html", context)
    try:
        refill, job, ignored = refills.refill_request(preparation=prep, by=request.user, note=note, override_reason=override_reason)
    except refills.RefillRefused as refused:
        renewal = renewals.renewal_after_refusal(preparation=prep, refusal_code=refused.code, by=request.user)
        messages.error(request, refused.message + (" The prescriber has been asked to renew it." if renewal else ""))
    except ServiceError as exc:
        if exc.fields:  # the form again, the error beside its field, what was typed kept; nothing was saved
            context = preparation_context(prep, request.user)
            context["input"] = {"errors": {name: words[0] for name, words in exc.fields.items()},
                                "values": {name: request.POST.get(name, "") for name in ("note", "override_reason")},
                                "message": "Nothing was requested: see the field marked below."}
            return render(request, "fulfillment/preparation.html", context, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Refill {refill.fill} requested: job {job.number} is in the compounding queue."
                         + (f" {ignored}" if ignored else ""))
    return redirect("preparation", preparation_id=prep.public_id)


@form_input_checked
@people_required
@require_POST
def preparation_renewal(request, preparation_id):
    prep = order_selectors.preparation_get(user=request.user, public_id=preparation_id)
    form = FormInput(request.POST, request)
    note = form.text("note")
    if not form.ok:  # the form is one button: a NUL in what it sent is said above the page; nothing asked
        if form.errors:
            messages.error(request, f"Nothing was asked: {form.errors['note']}")
        return redirect("preparation", preparation_id=prep.public_id)
    try:
        _renewal, created = renewals.renewal_request(preparation=prep, by=request.user, note=note)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The prescriber has been asked to renew it." if created else "The prescriber was already asked; "
                                                                                          "the request is waiting.")
    return redirect("preparation", preparation_id=prep.public_id)


@form_input_checked
@prescriber_required
@require_POST
def renewal_decide(request, renewal_id, action):
    renewal = order_selectors.renewal_get(user=request.user, public_id=renewal_id)
    form = FormInput(request.POST, request)
    reason = form.text("reason")
    if not form.ok:  # beside the renewal's reason on the home page, with what was typed (without the NUL); nothing decided
        if form.errors:
            request.session["renewal_deny_refused"] = {"renewal": str(renewal.public_id), "error": form.errors["reason"],
                                                       "reason": reason}
        return redirect("prescriber-home")
    try:
        if action == "approve":
            # Renewing signs a new order: the same review page, safety summary, attestation and signing as any order
            # (a prefilled draft; signing it approves the renewal). Nothing is signed by this button.
            draft = renewals.renewal_change_start(renewal=renewal, by=request.user)
            messages.info(request, "Check the renewal, tick the attestation and sign: signing approves the renewal.")
            return redirect("order-review", order_id=draft.public_id)
        if action == "change":
            draft = renewals.renewal_change_start(renewal=renewal, by=request.user)
            messages.info(request, "Change what you need and sign: signing approves the renewal.")
            return redirect("order-edit", order_id=draft.public_id)
        renewals.renewal_deny(renewal=renewal, by=request.user, reason=reason)
        messages.success(request, "Renewal denied; the pharmacy is told why.")
    except ServiceError as exc:
        if action == "deny" and "reason" in exc.fields:  # beside the renewal's reason on the home page, with what was typed
            request.session["renewal_deny_refused"] = {"renewal": str(renewal.public_id), "error": exc.message,
                                                       "reason": reason}
            return redirect("prescriber-home")
        details = " ".join(m for msgs in exc.fields.values() for m in (msgs if isinstance(msgs, list) else [str(msgs)]))
        messages.error(request, f"{exc.message} {details}".strip())
    return redirect("prescriber-home")
