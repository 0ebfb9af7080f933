"""Pharmacy pages: verification, the compounding queue, the job page (worksheet, record, QC, release,
label, shipping), and the PDFs, served to pharmacy staff only."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from formulary import selectors as formulary_selectors
from formulary.mfr_content import missing_fields
from formulary.models import MfrStatus
from fulfillment import documents, downloads, holds, promise, records, rush, selectors, services, workflows
from fulfillment.carriers import CARRIERS
from fulfillment.models import JobStatus, RenderStatus
from orders import selectors as order_selectors
from orders import services as order_services
from orders.presentation import (
    allergy_names,
    amendment_changes,
    preparation_safety,
    preparation_view_amended,
    quantity_text,
    ship_to_text,
)
from orders.rules.titles import title
from portal.access import pharmacy_staff_required, role_required
from portal.audit import record_access
from portal.errors import NotFound, ServiceError, record_refusal
from portal.models import Role
from portal.form_input import HIDDEN_MESSAGE, FormInput, form_input_checked, post_without_nul
from portal.page_actions import act, act_beside

pharmacist_required = role_required(Role.PHARMACIST, Role.PHARMACY_ADMIN)
DUE_LABELS = {"on_time": "✓ On time", "due_today": "◷ Due today", "late": "⚠ Late"}


@pharmacist_required
def verification_queue(request, *, decline_form: dict | None = None):

    orders = list(selectors.verification_queue(user=request.user))
    for order in orders:
        codes = sorted({f["code"] for p in order.preparations.all() for f in p.checked.get("findings", [])})
        order.warnings = [{"code": code, "title": title(code)} for code in codes]
    return render(request, "fulfillment/verify_queue.html", {"orders": orders, "waiting": selectors.clarification_waiting(user=request.user),
                                                              "rush_requests": selectors.rush_requests(user=request.user),
                                                              "decline_form": decline_form or {}})


@form_input_checked
@pharmacist_required
@require_POST
def rush_answer(request, order_id, accept):
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    if accept:
        if checked.ok:  # a NUL in the form: nothing accepted, said above the queue
            act(request, lambda: rush.order_rush_accept(order=order, by=request.user),
                f"Rush accepted for {order.number}: its preparations go first, and the prescriber sees the new dates.")
    else:
        reason = checked.text("reason", max_length=1000)
        if not checked.ok:  # the queue again, the reason as typed beside its error; nothing changed
            return verification_queue(request, decline_form={"order": order.public_id, "values": checked.values, "errors": checked.errors})
        act(request, lambda: rush.order_rush_decline(order=order, by=request.user, reason=reason),
            f"Rush declined for {order.number}; the prescriber sees your reason.")
    return redirect("verification-queue")


@pharmacist_required
def verification_detail(request, order_id, *, refused: dict | None = None):

    order = order_selectors.order_get(user=request.user, public_id=order_id)
    preparations = list(order.preparations.all())
    changes = amendment_changes(order)
    codes = sorted({f["code"] for p in preparations for f in p.checked.get("findings", []) if f["severity"] == "warning"})
    record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
    bud_form = request.session.pop("bud_form", {})
    if refused and refused["form"] == "bud":
        bud_form = {**refused["values"], "position": refused["position"], "errors": refused["errors"]}
    views = [preparation_view_amended(p, changes) for p in preparations]
    for view in views:  # each preparation's master formulation record, and what the pharmacist can do with it
        view["mfr"] = _mfr_view(view["prep"])
    return render(request, "fulfillment/verify_detail.html", {
        "order": order, "preps": views, "changes": changes, "mfrs_ready": all(v["mfr"]["approved"] for v in views),
        "warnings": [{"code": code, "title": title(code)} for code in codes],
        "allergies": allergy_names(order.patient), "ship_to": ship_to_text(order),
        "previous": order_selectors.patient_previous_orders(order=order),
        "history": order_selectors.order_history(order=order),
        "bud_assignable": order.status in order_services.BUD_ASSIGNABLE, "bud_form": bud_form,
        "input": refused or {},
    })


def _mfr_view(prep) -> dict:
    mfr = prep.mfr
    if mfr is None:
        return {"record": None, "approved": False, "missing": {}, "alternative": None}
    alternative = None if mfr.status == MfrStatus.APPROVED else formulary_selectors.mfr_approved_of(formulation_key=mfr.formulation_key)
    return {"record": mfr, "approved": mfr.status == MfrStatus.APPROVED,
            "missing": missing_fields(mfr) if mfr.status == MfrStatus.DRAFT else {}, "alternative": alternative}


@form_input_checked
@pharmacist_required
@require_POST
def verification_mfr(request, order_id):
    """Link a preparation to its formulation's record: propose one (a preparation signed before records existed), or
    follow the approved version of exactly its formulation."""
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    for field in ("preparation", "action", "mfr"):
        checked.text(field)
    if not checked.ok:  # its fields are hidden (a button's): nothing changed, said above the order
        messages.error(request, HIDDEN_MESSAGE)
        return redirect("verification-detail", order_id=order.public_id)
    position = request.POST.get("preparation", "")
    prep = order.preparations.filter(position=int(position)).first() if position.isdigit() and len(position) < 4 else None
    if prep is None:
        messages.error(request, "Choose one of this order's preparations.")
    elif request.POST.get("action") == "propose":
        act(request, lambda: order_services.preparation_mfr_propose(preparation=prep, by=request.user),
            f"Preparation {prep.position} now has its master formulation record.")
    else:
        try:
            chosen = formulary_selectors.mfr_get(public_id=request.POST.get("mfr", ""))
        except (NotFound, ValidationError):
            messages.error(request, "Choose an approved master formulation record.")
        else:
            act(request, lambda: order_services.preparation_mfr_choose(preparation=prep, mfr=chosen, by=request.user),
                f"Preparation {prep.position} follows {chosen.label}.")
    return redirect("verification-detail", order_id=order.public_id)


@form_input_checked
@pharmacist_required
@require_POST
def verification_bud(request, order_id):
    """A pharmacist assigns (or withdraws) a beyond-use date other than the table's, with its citation."""
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    post = request.POST
    position = post.get("preparation", "")
    checked = FormInput(post, request)
    for field, limit in (("days", 10), ("citation", 2000), ("reason", 2000)):
        checked.text(field, max_length=limit)
    checked.choice("action", ("assign", "clear"), default="assign")
    if not checked.ok and position.isdigit() and len(position) < 4 and order.preparations.filter(position=int(position)).exists():
        return verification_detail(request, order_id=order.public_id, refused={
            "form": "bud", "position": int(position), "values": checked.values, "errors": checked.errors})
    if not checked.ok:
        position = ""  # a field in error on no preparation of this order: said as such below
    prep = order.preparations.filter(position=int(position)).first() if position.isdigit() and len(position) < 4 else None
    if prep is None:
        messages.error(request, "Choose one of this order's preparations.")
    elif post.get("action") == "clear":
        act(request, lambda: order_services.preparation_bud_clear(preparation=prep, by=request.user),
            f"Preparation {prep.position} is dated by the USP <795> table again.")
    else:
        ok = act(request, lambda: order_services.preparation_bud_assign(
            preparation=prep, by=request.user, days=post.get("days", ""), citation=post.get("citation", ""),
            reason=post.get("reason", "")), f"Beyond-use period of preparation {prep.position} set to {post.get('days', '').strip()} days.")
        if not ok:  # keep what was typed, beside the refusal
            request.session["bud_form"] = {"position": prep.position, "days": post.get("days", "")[:10],
                                           "citation": post.get("citation", "")[:2000], "reason": post.get("reason", "")[:2000]}
    return redirect("verification-detail", order_id=order.public_id)


@form_input_checked
@pharmacist_required
@require_POST
def verification_act(request, order_id, action):
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    checked = FormInput(request.POST, request)
    field = {"approve": "acknowledge", "reject": "reason"}.get(action, "question")
    if field == "acknowledge":
        checked.texts(field)
    else:
        checked.text(field, max_length=2000)
    if not checked.ok:  # the order again, what was typed beside its error; nothing changed
        return verification_detail(request, order_id=order.public_id, refused={
            "form": action, "values": checked.values, "errors": checked.errors})
    if action == "approve":
        ok = act(request, lambda: workflows.order_approve(order=order, by=request.user,
                                                          acknowledged_warnings=request.POST.getlist("acknowledge")),
                  f"Order {order.number} approved; its preparations are in the compounding queue.")
    elif action == "reject":
        ok = act(request, lambda: workflows.order_reject(order=order, by=request.user, reason=request.POST.get("reason", "")),
                  f"Order {order.number} rejected.")
    else:
        ok = act(request, lambda: workflows.order_clarify(order=order, by=request.user, question=request.POST.get("question", "")),
                  f"Question sent to {order.prescriber}.")
    return redirect("verification-queue" if ok else "verification-detail", **({} if ok else {"order_id": order.public_id}))


@pharmacy_staff_required
def queue(request):
    status = request.GET.get("status", "")
    if status not in JobStatus.values:
        status = ""
    counts = selectors.job_counts(user=request.user)
    columns = [status] if status else [JobStatus.QUEUED, JobStatus.COMPOUNDING, JobStatus.QC, JobStatus.REWORK, JobStatus.READY]
    board = selectors.job_board(user=request.user, statuses=columns, per_column=20)
    today = timezone.localdate()
    for jobs in board.values():
        for job in jobs:  # each job against its order's promised ship date, in words as well as colour
            job.due = promise.job_due(promised=job.preparation.order.promised_ship_date, today=today)
            job.due_label = DUE_LABELS.get(job.due, "")
    return render(request, "fulfillment/queue.html", {
        "board": [(JobStatus(s).label, s, board[s]) for s in columns],
        "counts": [(value, JobStatus(value).label, n) for value, n in counts.items()], "status": status,
        "jobs_url": "/pharmacy/jobs/",  # one prefix instead of a URL reverse per card: the board renders 125 of them
    })


@pharmacy_staff_required
@require_POST
def queue_claim_next(request):
    try:
        job = services.job_claim_next(by=request.user)
    except NotFound:
        messages.info(request, "The queue is empty.")
        return redirect("queue")
    messages.success(request, f"You have {job.number}.")  # the worksheet card below says how its worksheet is coming along
    return redirect("job", job_id=job.public_id)


def _record_form(plan: list[dict], by_item: dict, post=None, fields: dict | None = None, message: str = "") -> dict:
    """The record form's rows: empty to start (a weight is typed from the balance, never pre-filled), or,
    after a refusal, exactly what was typed with each problem beside its field."""
    fields = fields or {}
    rows = []
    for index, row in enumerate(plan):
        key = row["key"]
        lot_errors = fields.get(f"lots[{index}].lot_number", [])
        grams_errors = fields.get(f"lots[{index}].actual_grams", []) + fields.get(f"lots[{index}].item", [])
        rows.append({**row, "lots": by_item.get(row["lot_item"], []),
                     "suggested": row["lots"][0]["lot_number"] if row["lots"] else "",
                     "lot_number": post.get(f"lot-{key}", "") if post is not None else "",
                     "grams": post.get(f"grams-{key}", "") if post is not None else "",
                     "lot_errors": lot_errors, "grams_errors": grams_errors, "errors": bool(lot_errors or grams_errors)})
    return {"rows": rows, "yield": post.get("actual_yield_grams", "") if post is not None else "",
            "yield_errors": fields.get("actual_yield_grams", []), "general": fields.get("lots", []), "message": message}


def _lot_choices(plan: list[dict]) -> dict[str, list]:
    """Released lots of each item the record weighs, first to expire first: the lot field's suggestions."""
    codes = {row["lot_item"] for row in plan}
    by_item: dict[str, list] = {}
    for lot in formulary_selectors.released_lots_of(item_codes=sorted(codes)):
        by_item.setdefault(lot.item_code, []).append(lot)
    return by_item


def _record_lots_from_post(plan: list[dict], post) -> list[dict]:
    return [{"item": row["item"], "step": row["step"], "lot_number": post.get(f"lot-{row['key']}", "") if row["takes_lot"] else "",
             "actual_grams": post.get(f"grams-{row['key']}", "")} for row in plan]


def _record_lines(record) -> list[dict]:
    return [{"what": line.description or line.item_name or line.item_code, "lot_number": line.lot_number,
             "lot_expires_on": line.lot_expires_on, "planned": f"{line.planned_grams.normalize():f}",
             "actual": f"{line.actual_grams.normalize():f}"} for line in record.lines.all()]


def _actions(job, user, qc) -> dict:
    """What the job's door allows now, so the page offers nothing it would refuse."""
    status = job.status
    pharmacist = user.role in (Role.PHARMACIST, Role.PHARMACY_ADMIN)
    qc_passed = qc is not None and qc.passed
    return {
        "claim": status in (JobStatus.QUEUED, JobStatus.REWORK),
        "give_back": status == JobStatus.COMPOUNDING,  # the claim, to the queue (the route keeps its name, job-release)
        "worksheet": status in services.WORKSHEET_STATUSES,
        "qc": status == JobStatus.QC and not qc_passed,
        "verify": status == JobStatus.QC and qc_passed and pharmacist,
        "ship": status == JobStatus.READY,
        "hold": status in holds.HOLDABLE and pharmacist,
        "resume": status == JobStatus.ON_HOLD and pharmacist,
    }


def _job_context(job, user, *, record_form: dict | None = None, qc_form: dict | None = None, ship_form: dict | None = None,
                 hold_form: dict | None = None) -> dict:
    batch = documents.batch_lines(job)
    plan = documents.record_plan(job, batch)
    record = getattr(job, "record", None)
    prep = job.preparation
    order = prep.order
    qc = job.qc_results.order_by("-recorded_at", "-pk").first()
    # Ready jobs that may go in one parcel with this one: the same patient at the same address, from any of their orders.
    parcel = selectors.parcel_candidates(user=user, job=job) if job.status == JobStatus.READY else []
    other_orders = sorted({other.preparation.order.number for other in parcel if other.preparation.order_id != order.pk})
    return {
        "job": job, "prep": prep, "order": order, "batch": batch, "safety": preparation_safety(prep),
        "fill_text": "original fill" if job.fill == 0 else f"refill {job.fill}",
        "held_from_text": JobStatus(job.held_from).label.lower() if job.held_from in JobStatus.values else "",
        "volume": documents.volume_context(prep, batch),
        "record_form": record_form or _record_form(plan, _lot_choices(plan)),
        "worksheet": selectors.latest_worksheet(job), "record": record,
        "record_lines": _record_lines(record) if record else [],
        "qc": qc, "qc_form": qc_form or {}, "spec": documents.qc_spec(job),
        "qc_text": documents.qc_text(qc, prep.unit) if qc else "",
        "label": documents.label_context(job) if record else None, "carriers": CARRIERS.values(),
        "siblings": parcel or [job], "other_orders": other_orders, "ship_to": ship_to_text(order),
        "ship_defaults": documents.ship_defaults([other.preparation for other in parcel] or [prep]),
        "render_status": RenderStatus, "actions": _actions(job, user, qc),
        "history": order_selectors.order_history(order=order, preparation=prep),
        "quantity": quantity_text(prep.quantity, prep.unit), "ship_form": ship_form or {}, "hold_form": hold_form or {},
        "mfr": documents.mfr_followed(prep),  # the approved master formulation record this job is made from
    }


@pharmacy_staff_required
def job_page(request, job_id):
    job = selectors.job_get(user=request.user, public_id=job_id)
    context = _job_context(job, request.user)
    record_access(request, object_type="job", object_id=job.public_id, patient_id=context["order"].patient_id)
    return render(request, "fulfillment/job.html", context)


@pharmacy_staff_required
def job_worksheet_status(request, job_id):
    job = selectors.job_get(user=request.user, public_id=job_id)
    return render(request, "fulfillment/_worksheet_status.html", {"job": job, "worksheet": selectors.latest_worksheet(job),
                                                                  "render_status": RenderStatus})


def _job_input_refused(request, job, action: str, post):
    """A NUL or a malformed id in the record, QC or ship form: the job page again, every value as typed (without
    the NUL) and the error beside its field; nothing recorded or shipped. None when the form is clean."""
    checked = FormInput(post, request)
    if action == "record":
        plan = documents.record_plan(job)
        fields = {}
        for index, row in enumerate(plan):
            for name, field in ((f"lot-{row['key']}", "lot_number"), (f"grams-{row['key']}", "actual_grams")):
                checked.text(name)
                if name in checked.errors:
                    fields[f"lots[{index}].{field}"] = [checked.errors[name]]
        checked.text("actual_yield_grams")
        if "actual_yield_grams" in checked.errors:
            fields["actual_yield_grams"] = [checked.errors["actual_yield_grams"]]
        if checked.ok:
            return None
        form = _record_form(plan, _lot_choices(plan), post=post_without_nul(post), fields=fields,
                            message="Nothing was saved: a field below holds a character that cannot be stored.")
        return render(request, "fulfillment/job.html", _job_context(job, request.user, record_form=form))
    if action == "qc":
        values = {name: checked.text(name) for name in ("ph", "fill_weight")}
        values["appearance_ok"] = checked.choice("appearance_ok", ("yes", "no"), default="yes")
        if checked.ok:
            return None
        qc_form = {**values, "errors": {name: [message] for name, message in checked.errors.items()},
                   "message": "Nothing was saved: see the field marked below."}
        return render(request, "fulfillment/job.html", _job_context(job, request.user, qc_form=qc_form))
    if action == "ship":
        checked.public_ids("jobs")
        checked.choice("carrier", tuple(CARRIERS), default="")
        checked.text("service", max_length=60)
        checked.text("tracking_number", max_length=40)
        checked.values["cold_pack"] = checked.choice("cold_pack", ("on", ""), default="") == "on"
        if checked.ok:
            return None
        ship_form = {"values": checked.values, "errors": checked.errors}
        return render(request, "fulfillment/job.html", _job_context(job, request.user, ship_form=ship_form))
    if action == "hold":
        checked.text("reason", max_length=500)
        if checked.ok:
            return None
        hold_form = {"values": checked.values, "errors": checked.errors}
        return render(request, "fulfillment/job.html", _job_context(job, request.user, hold_form=hold_form))
    if not checked.ok:  # claim, release, a new worksheet, verify, resume: a NUL in the form acts on nothing
        return redirect("job", job_id=job.public_id)
    return None


@form_input_checked
@pharmacy_staff_required
@require_POST
def job_act(request, job_id, action):
    job = selectors.job_get(user=request.user, public_id=job_id)
    post = request.POST
    refused = _job_input_refused(request, job, action, post)
    if refused is not None:
        return refused
    if action == "claim":
        act(request, lambda: services.job_claim(job=job, by=request.user), f"You have {job.number}.")
    elif action == "release":
        act(request, lambda: services.job_claim_give_back(job=job, by=request.user), f"{job.number} is back in the queue.")
    elif action == "worksheet":
        act(request, lambda: services.worksheet_request(job=job, by=request.user), "A new worksheet version is being prepared.")
    elif action == "record":
        plan = documents.record_plan(job)
        try:
            services.job_record(job=job, by=request.user, lots=_record_lots_from_post(plan, post),
                                actual_yield_grams=post.get("actual_yield_grams", ""))
        except ServiceError as exc:
            record_refusal(exc)  # a refused move is written now that the refused change has rolled back
            if exc.status == 409:
                messages.error(request, exc.message)
                return redirect("job", job_id=job.public_id)
            # Shown again with every value as typed and each problem beside its field: nothing is lost.
            form = _record_form(plan, _lot_choices(plan), post=post, fields=exc.fields, message=exc.message)
            return render(request, "fulfillment/job.html", _job_context(job, request.user, record_form=form))
        messages.success(request, "Compounding record saved; stock deducted.")
    elif action == "qc":
        try:
            services.job_qc(job=job, by=request.user, ph=post.get("ph", ""), appearance_ok=post.get("appearance_ok") == "yes",
                            description=post.get("description", ""),
                            fill_weight=post.get("fill_weight", ""))
        except ServiceError as exc:
            record_refusal(exc)  # a refused move is written now that the refused change has rolled back
            if exc.status == 409:
                messages.error(request, exc.message)
                return redirect("job", job_id=job.public_id)
            qc_form = {"ph": post.get("ph", ""), "fill_weight": post.get("fill_weight", ""), "appearance_ok": post.get("appearance_ok", ""),
                       "description": post.get("description", ""),
                       "errors": exc.fields, "message": exc.message}
            return render(request, "fulfillment/job.html", _job_context(job, request.user, qc_form=qc_form))
        messages.success(request, "QC recorded.")
    elif action in ("hold", "resume") and request.user.role == Role.TECHNICIAN:
        messages.error(request, "Only a pharmacist puts a job on hold or resumes it.")
    elif action == "hold":
        act(request, lambda: holds.job_hold(job=job, by=request.user, reason=post.get("reason", "")),
            f"{job.number} is on hold; the prescriber and the patient see your reason.")
    elif action == "resume":
        act(request, lambda: holds.job_resume(job=job, by=request.user), f"{job.number} is off hold.")
    elif action == "verify":
        if request.user.role == Role.TECHNICIAN:
            messages.error(request, "Only a pharmacist releases a preparation.")
        else:
            act(request, lambda: services.job_verify(job=job, by=request.user), f"{job.number} verified and ready to ship.")
    elif action == "ship":
        jobs = [selectors.job_get(user=request.user, public_id=value) for value in post.getlist("jobs")] or [job]
        checked = FormInput(post, request)  # a refusal about a field is shown beside it, the form as typed
        for name in ("carrier", "service", "tracking_number"):
            checked.text(name)
        checked.values["cold_pack"] = post.get("cold_pack") == "on"
        if not act_beside(request, lambda: services.shipment_create(by=request.user, jobs=jobs, carrier=post.get("carrier", ""),
                                                                    service=post.get("service", ""),
                                                                    tracking_number=post.get("tracking_number", ""),
                                                                    cold_pack=post.get("cold_pack") == "on"),
                          "Shipped.", checked, ("tracking_number", "service", "carrier", "jobs")) and checked.errors:
            return render(request, "fulfillment/job.html",
                          _job_context(job, request.user, ship_form={"values": checked.values, "errors": checked.errors}))
    return redirect("job", job_id=job.public_id)


@pharmacy_staff_required
def job_worksheet_pdf(request, job_id, version):
    job = selectors.job_get(user=request.user, public_id=job_id)
    worksheet = selectors.worksheet_ready(job=job, version=version)
    return downloads.worksheet_download(request, job, worksheet)


@pharmacy_staff_required
def job_compounding_record(request, job_id):
    """The compounding record (USP <795> 7.3): as released (frozen, with its PDF and hash), or so far with what it lacks."""
    job = selectors.job_get(user=request.user, public_id=job_id)
    record = records.current_or_latest(job)
    if record is None:
        raise NotFound(f"Job {job.number} has no compounding record yet: it is entered after compounding.")
    record_access(request, object_type="compounding record", object_id=job.public_id, patient_id=job.preparation.order.patient_id)
    frozen = record.frozen is not None
    failed = record.job_id is None
    return render(request, "fulfillment/record.html", {
        "job": job, "record": record, "frozen": frozen, "failed": failed,
        "r": record.frozen if frozen else records.record_data(job, record),
        "missing": [] if frozen or failed else records.record_missing(job),
        "pharmacist": request.user.role in (Role.PHARMACIST, Role.PHARMACY_ADMIN),
    })


@pharmacy_staff_required
@require_POST
def job_record_deviation(request, job_id):
    job = selectors.job_get(user=request.user, public_id=job_id)
    act(request, lambda: records.deviation_add(job=job, by=request.user, what=request.POST.get("what", ""),
                                               reason=request.POST.get("reason", "")), "Deviation recorded with its reason.")
    return redirect("job-compounding-record", job_id=job.public_id)


@pharmacy_staff_required
def job_compounding_record_pdf(request, job_id):
    job = selectors.job_get(user=request.user, public_id=job_id)
    record = records.current_or_latest(job)
    if record is None:
        raise NotFound(f"Job {job.number} has no compounding record yet.")
    try:
        return downloads.record_download(request, job, record)
    except ServiceError as exc:
        if exc.status == 500:
            raise
        messages.info(request, exc.message)
        return redirect("job-compounding-record", job_id=job.public_id)


@pharmacy_staff_required
def job_label_pdf(request, job_id):
    return downloads.label_download(request, selectors.job_get(user=request.user, public_id=job_id))


@pharmacy_staff_required
def shipment_labels_pdf(request, shipment_id):
    return downloads.shipment_labels_download(request, selectors.shipment_get(user=request.user, public_id=shipment_id))
