"""The patient's status page: open a link, confirm the date of birth, follow the order.

Every failure (malformed, unknown, revoked or expired token, a cancelled order, a wrong or badly
typed date of birth) looks the same and says nothing about which part was wrong. Look-ups are
rate-limited per client address and date-of-birth attempts per link."""

from __future__ import annotations

import datetime as dt

from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from fulfillment import selectors as fulfillment_selectors
from orders.patient_links import patient_link_resolve
from portal import ratelimit
from portal.audit import record_access
from portal.form_input import HIDDEN_MESSAGE, FormInput, form_input_checked

LOOKUPS_PER_ADDRESS = 30  # per 10 minutes: a patient opens their link a few times; a guesser is stopped
DOB_TRIES_PER_LINK = 5  # per 15 minutes
DOB_TRIES_PER_ADDRESS = 20


def _page(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response.patient_page = True  # portal.middleware.PatientPagesMiddleware leaves it as it is
    return response


def _not_found(request):
    return _page(request, "patient/not_found.html", {}, status=404)


def _limited(request):
    return _page(request, "patient/limited.html", {}, status=429)


def _session_key(link) -> str:
    return f"patient-link-{link.pk}"


@form_input_checked
@never_cache
@csrf_exempt
def patient_status(request, token: str):
    # CSRF exempt on purpose: with Referrer-Policy no-referrer the browser posts "Origin: null", which
    # Django's origin check refuses. A forged post here can only spend the rate-limited date-of-birth
    # tries of a link the forger already holds; it can reveal or change nothing.
    address = ratelimit.client_address(request)
    # A patient who already confirmed their date of birth in this browser is not counted against the
    # address limit (patients behind one clinic Wi-Fi or carrier NAT share an address); guessers are,
    # and once over the limit they are refused before any database lookup.
    has_confirmed = any(key.startswith("patient-link-") for key in request.session.keys())  # noqa: SIM118 - a session is not iterable
    if not has_confirmed and ratelimit.hit("patient-lookup", address, window=600) > LOOKUPS_PER_ADDRESS:
        return _limited(request)
    link = patient_link_resolve(token)
    confirmed = link is not None and bool(request.session.get(_session_key(link)))
    if has_confirmed and not confirmed and ratelimit.hit("patient-lookup", address, window=600) > LOOKUPS_PER_ADDRESS:
        return _limited(request)
    if link is None:
        return _not_found(request)
    if confirmed:
        record_access(request, object_type="patient_link", object_id=link.pk, patient_id=link.order.patient_id)
        action = request.POST.get("action") if request.method == "POST" else None
        if action in ("refill", "renewal", "pause_auto", "resume_auto"):
            # The shared field check (portal.form_input): a NUL or an id that is not ours is said plainly; nothing is asked.
            form = FormInput(request.POST)
            preparation = form.public_id("preparation", message="Choose one of the preparations on this page.")
            note = form.text("note") if action == "refill" else ""
            if form.errors or form.stray:
                said = next(iter(form.errors.values()), HIDDEN_MESSAGE)
                request.session[_flash_key(link)] = {"ok": False, "text": f"Nothing was asked: {said}"}
            elif action == "refill":
                request.session[_flash_key(link)] = _patient_refill(link, preparation, note)
            elif action == "renewal":
                request.session[_flash_key(link)] = _patient_renewal(link, preparation)
            else:
                request.session[_flash_key(link)] = _patient_auto_refill(link, preparation, paused=action == "pause_auto")
            return redirect(request.path)
        context = fulfillment_selectors.patient_status(link=link)
        context["flash"] = request.session.pop(_flash_key(link), None)
        return _page(request, "patient/status.html", context)
    error = False
    if request.method == "POST" and not request.POST.get("date_of_birth", "").strip():
        # Nothing typed is not a wrong answer: say what is missing, and do not count it as a try.
        return _page(request, "patient/confirm.html", {"error": "Enter your date of birth."})
    if request.method == "POST":
        # Count the try first (atomic), then compare: concurrent tries cannot get past the limit.
        per_link = ratelimit.hit("patient-dob", str(link.pk), window=900)
        per_address = ratelimit.hit("patient-dob-address", address, window=900)
        if per_link > DOB_TRIES_PER_LINK or per_address > DOB_TRIES_PER_ADDRESS:
            return _limited(request)
        try:
            given = dt.date.fromisoformat(request.POST.get("date_of_birth", "").strip())
        except ValueError:
            given = None
        if given is not None and given == link.order.patient.date_of_birth:
            ratelimit.reset("patient-dob", str(link.pk))
            ratelimit.give_back("patient-dob-address", address)
            request.session.cycle_key()
            request.session[_session_key(link)] = True
            request.session.set_expiry(0)  # until the browser closes
            return redirect(request.path)
        if given is not None and given > timezone.localdate():
            error = "That date is in the future: enter your date of birth."
        else:
            error = "That does not match our records."
    return _page(request, "patient/confirm.html", {"error": error})


def _flash_key(link) -> str:
    return f"patient-flash-{link.pk}"


def _patient_refill(link, preparation_id: str, note: str) -> dict:
    """The patient asks for a refill of one preparation of their order (their date of birth is confirmed in this
    session). The same service and rules as everyone's; a refusal for none left asks the prescriber to renew."""
    from fulfillment import refills, renewals
    from portal.errors import ServiceError

    prep = next((p for p in link.order.preparations.all() if str(p.public_id) == str(preparation_id)), None)
    if prep is None:
        return {"ok": False, "text": "Choose one of the preparations on this page."}
    try:
        refill, _job, _ignored = refills.refill_request(preparation=prep, by=None, note=note, source="patient")
    except refills.RefillRefused as refused:
        renewal = renewals.renewal_after_refusal(preparation=prep, refusal_code=refused.code, by=None, source="patient")
        text = refused.message.replace("ask the prescriber to renew it", "we have asked your prescriber to renew it") if renewal else refused.message
        return {"ok": False, "text": text, "preparation": str(prep.public_id)}
    except ServiceError as exc:
        return {"ok": False, "text": exc.message, "preparation": str(prep.public_id)}
    return {"ok": True, "preparation": str(prep.public_id),
            "text": f"Refill requested. The pharmacy will make your {prep.base_name.lower()} again and send it to you."}


def _patient_renewal(link, preparation_id: str) -> dict:
    """The patient asks their prescriber to renew a preparation with no refills left (or an expired prescription)."""
    from fulfillment import renewals
    from portal.errors import ServiceError

    prep = next((p for p in link.order.preparations.all() if str(p.public_id) == str(preparation_id)), None)
    if prep is None:
        return {"ok": False, "text": "Choose one of the preparations on this page."}
    try:
        renewals.renewal_request(preparation=prep, by=None, source="patient")
    except ServiceError as exc:
        return {"ok": False, "text": exc.message, "preparation": str(prep.public_id)}
    return {"ok": True, "preparation": str(prep.public_id),
            "text": "We have asked your prescriber to renew it. You will hear from your clinic or the pharmacy."}


def _patient_auto_refill(link, preparation_id: str, *, paused: bool) -> dict:
    from orders.services import preparation_auto_refill_pause
    from portal.errors import ServiceError

    prep = next((p for p in link.order.preparations.all() if str(p.public_id) == str(preparation_id)), None)
    if prep is None:
        return {"ok": False, "text": "Choose one of the preparations on this page."}
    try:
        preparation_auto_refill_pause(preparation=prep, paused=paused, by=None)
    except ServiceError as exc:
        return {"ok": False, "text": exc.message, "preparation": str(prep.public_id)}
    text = ("Automatic refills are paused: nothing is made until you resume them or ask for a refill." if paused
            else "Automatic refills are on again.")
    return {"ok": True, "text": text, "preparation": str(prep.public_id)}
