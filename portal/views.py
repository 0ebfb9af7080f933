"""The site shell: the landing redirect and each role's home page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from orders import views as order_views
from portal.access import role_required
from portal.models import Role
from portal import selectors
from portal.errors import error_json, fhir_outcome_json

ROLE_HOME = {
    Role.PRESCRIBER: "prescriber-home",
    Role.PHARMACIST: "pharmacist-home",
    Role.TECHNICIAN: "technician-home",
    Role.PHARMACY_ADMIN: "pharmacy-admin-home",
}


@login_required
def home(request):
    target = ROLE_HOME.get(request.user.role)
    if target is None:  # API-only accounts have no pages
        return render(request, "portal/no_pages.html", status=403)
    return redirect(target)


@role_required(Role.PRESCRIBER)
def prescriber_home(request, *, start_form: dict | None = None):
    """What needs the prescriber, their drafts, their recent orders with each preparation's status and
    parcel, and the clinic's shared favourites."""
    from orders.validation import prescriber_read_once

    with prescriber_read_once():  # eleven reads below ask whose the caller is: one query answers them all
        return _prescriber_home(request, start_form)


def _prescriber_home(request, start_form):
    from fulfillment.carriers import CARRIERS
    from orders import selectors as order_selectors

    prescriber = selectors.prescriber_for_user(user=request.user)
    today = timezone.localdate()
    recent = list(order_selectors.recent_orders(user=request.user))
    parcels = {}
    for job in _parcels(recent, request.user):
        carrier = CARRIERS.get(job.shipment.carrier)
        parcels[job.preparation_id] = {"carrier": carrier.name if carrier else job.shipment.carrier,
                                       "number": job.shipment.tracking_number,
                                       "url": (carrier.tracking_url(job.shipment.tracking_number) or None) if carrier else None,
                                       "status": job.shipment.get_status_display()}
    for order in recent:
        order.rows = [{"prep": p, "parcel": parcels.get(p.pk)} for p in order.preparations.all()]
    favourites = [f for f in order_selectors.favourite_list(user=request.user) if f.visibility == "clinic" or f.owner_id == prescriber.pk]
    return render(request, "portal/home_prescriber.html", {
        "prescriber": prescriber, "licences": selectors.licences_with_status(prescriber.licences.all(), today),
        "needs_you": order_selectors.orders_needing_prescriber(user=request.user),
        "renewals": order_selectors.renewals_pending(user=request.user),
        "drafts": order_selectors.draft_list(user=request.user), "recent": recent, "favourites": favourites[:12],
        # Only for the favourites' patient menus (its name and id): read once, and only when there is a favourite to start.
        "patients": order_selectors.patient_list(user=request.user).prefetch_related(None).only(
            "public_id", "first_name", "last_name")[:500], "start_form": start_form or {},
        # A renewal denied without a reason (fulfillment.views_refills): its card shows why, beside what was typed.
        "deny_refused": request.session.pop("renewal_deny_refused", None) or {},
    })


def _parcels(orders, user):
    """The shipped jobs of these orders with their parcels, in one query."""
    from fulfillment.selectors import shipped_jobs_of_orders

    return shipped_jobs_of_orders(user=user, orders=orders)


@role_required(Role.PHARMACIST)
def pharmacist_home(request):
    return render(request, "portal/home_pharmacist.html", selectors.pharmacy_overview())


@role_required(Role.TECHNICIAN)
def technician_home(request):
    return render(request, "portal/home_technician.html", selectors.pharmacy_overview())


@role_required(Role.PHARMACY_ADMIN)
def pharmacy_admin_home(request):
    return render(request, "portal/home_admin.html", selectors.pharmacy_overview())


def server_error(request):
    """The one answer to an unexpected error: a generic page (JSON on the API) with a reference that
    the log line carries too (portal.logfilters.NoValuesFormatter), and nothing of the request."""
    import secrets

    reference = secrets.token_hex(4).upper()
    request.error_reference = reference
    if request.path.startswith("/fhir/"):
        return fhir_outcome_json("exception", f"Something went wrong on our side. Try again; if it persists, quote reference "
                                              f"{reference}.", status=500)
    if request.path.startswith("/api/"):
        return error_json("server_error", f"Something went wrong on our side. Try again; if it persists, quote reference {reference}.",
                          status=500)
    from django.http import HttpResponseServerError
    from django.template import loader

    # No request context: the failure may be in what context processors read (the database, the session).
    return HttpResponseServerError(loader.get_template("500.html").render({"reference": reference}))


def not_found(request, exception=None):
    """404: the JSON error envelope on the API (even for paths no route matches), the page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/fhir/"):
        return fhir_outcome_json("not-found", "No such resource. GET /fhir/r4/metadata lists what this server supports.", status=404)
    if request.path.startswith("/api/"):
        return error_json("not_found", "No such resource.", status=404)
    return page_not_found(request, exception)


# orders' "start an order" form re-renders this page with its error (orders may not import portal's pages).
order_views.home_page_register(prescriber_home)
