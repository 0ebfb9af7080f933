"""Pharmacy pages: verification, the compounding queue, the job page (worksheet, record, QC, release,
label, shipping), and the PDFs, served to pharmacy staff only."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from formulary import selectors as formulary_selectors
from fulfillment import documents, downloads, promise, rush, selectors, services, workflows
from fulfillment.carriers import CARRIERS
from fulfillment.models import JobStatus, RenderStatus
from orders import selectors as order_selectors
from orders import services as order_services
from portal.access import pharmacy_staff_required, role_required
from portal.audit import record_access
from portal.errors import NotFound
from portal.models import Role
from portal.page_actions import act

pharmacist_required = role_required(Role.PHARMACIST, Role.PHARMACY_ADMIN)
DUE_LABELS = {"on_time": "✓ On time", "due_today": "◷ Due today", "late": "⚠ Late"}


@pharmacist_required
def verification_queue(request):
    return render(request, "fulfillment/verify_queue.html", {"orders": selectors.verification_queue(user=request.user),
                                                              "rush_requests": selectors.rush_requests(user=request.user)})


@pharmacist_required
@require_POST
def rush_answer(request, order_id, accept):
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    if accept:
        act(request, lambda: rush.order_rush_accept(order=order, by=request.user),
            f"Rush accepted for {order.number}: its preparations go first, and the prescriber sees the new dates.")
    else:
        act(request, lambda: rush.order_rush_decline(order=order, by=request.user, reason=request.POST.get("reason", "")[:1000]),
            f"Rush declined for {order.number}; the prescriber sees your reason.")
    return redirect("verification-queue")


@pharmacist_required
def verification_detail(request, order_id):
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    preparations = list(order.preparations.all())
    warnings = sorted({f["code"] for p in preparations for f in p.checked.get("findings", []) if f["severity"] == "warning"})
    record_access(request, object_type="order", object_id=order.public_id, patient_id=order.patient_id)
    return render(request, "fulfillment/verify_detail.html", {
        "order": order, "preparations": preparations, "warnings": warnings, "events": order_selectors.order_events(order=order),
        "bud_assignable": order.status in order_services.BUD_ASSIGNABLE, "bud_form": request.session.pop("bud_form", {}),
    })


@pharmacist_required
@require_POST
def verification_bud(request, order_id):
    """A pharmacist assigns (or withdraws) a beyond-use date other than the table's, with its citation."""
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    post = request.POST
    position = post.get("preparation", "")
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


@pharmacist_required
@require_POST
def verification_act(request, order_id, action):
    order = order_selectors.order_get(user=request.user, public_id=order_id)
    if action == "approve":
        ok = act(request, lambda: workflows.order_approve(order=order, by=request.user,
                                                          acknowledged_warnings=request.POST.getlist("acknowledge")),
                  f"Order {order.number} approved; its preparations are in the compounding queue.")
    elif action == "reject":
        ok = act(request, lambda: workflows.order_reject(order=order, by=request.user, reason=request.POST.get("reason", "")),
                  f"Order {order.number} rejected.")
    else:
        ok = act(request, lambda: workflows.order_clarify(order=order, by=request.user,
                                                                question=request.POST.get("question", "")),
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
    messages.success(request, f"You have {job.number}. Its worksheet is being prepared.")
    return redirect("job", job_id=job.public_id)


def _job_context(job, user) -> dict:
    batch = documents.batch_lines(job)
    by_item: dict[str, list] = {}
    for lot in formulary_selectors.released_lots_of(item_codes=[line["item"] for line in batch["lines"]]):
        by_item.setdefault(lot.item_code, []).append(lot)
    record = getattr(job, "record", None)
    return {
        "job": job, "prep": job.preparation, "order": job.preparation.order, "batch": batch,
        "volume": documents.volume_context(job.preparation, batch),
        "lot_choices": [{"line": line, "lots": by_item.get(line["item"], [])} for line in batch["lines"]],
        "worksheet": selectors.latest_worksheet(job), "record": record,
        "qc": job.qc_results.order_by("-recorded_at", "-pk").first(), "spec": documents.qc_spec(job),
        "label": documents.label_context(job) if record else None, "carriers": CARRIERS.values(),
        "siblings": selectors.jobs_ready_of_order(user=user, order_id=job.preparation.order_id),
        "render_status": RenderStatus,
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


@pharmacy_staff_required
@require_POST
def job_act(request, job_id, action):
    job = selectors.job_get(user=request.user, public_id=job_id)
    post = request.POST
    if action == "claim":
        act(request, lambda: services.job_claim(job=job, by=request.user), f"You have {job.number}.")
    elif action == "release":
        act(request, lambda: services.job_claim_give_back(job=job, by=request.user), f"{job.number} is back in the queue.")
    elif action == "worksheet":
        act(request, lambda: services.worksheet_request(job=job, by=request.user), "A new worksheet version is being prepared.")
    elif action == "record":
        batch = documents.batch_lines(job)
        lots = [{"item": line["item"], "lot_number": post.get(f"lot-{line['item']}", ""), "actual_grams": post.get(f"grams-{line['item']}", "")}
                for line in batch["lines"]]
        act(request, lambda: services.job_record(job=job, by=request.user, lots=lots, actual_yield_grams=post.get("actual_yield_grams", "")),
             "Compounding record saved; stock deducted.")
    elif action == "qc":
        act(request, lambda: services.job_qc(job=job, by=request.user, ph=post.get("ph", ""), appearance_ok=post.get("appearance_ok") == "yes",
                                              fill_weight=post.get("fill_weight", "")), "QC recorded.")
    elif action == "verify":
        if request.user.role == Role.TECHNICIAN:
            messages.error(request, "Only a pharmacist releases a preparation.")
        else:
            act(request, lambda: services.job_verify(job=job, by=request.user), f"{job.number} verified and ready to ship.")
    elif action == "ship":
        jobs = [selectors.job_get(user=request.user, public_id=value) for value in post.getlist("jobs")] or [job]
        act(request, lambda: services.shipment_create(by=request.user, jobs=jobs, carrier=post.get("carrier", ""),
                                                       service=post.get("service", ""), tracking_number=post.get("tracking_number", ""),
                                                       cold_pack=post.get("cold_pack") == "on"), "Shipped.")
    return redirect("job", job_id=job.public_id)


@pharmacy_staff_required
def job_worksheet_pdf(request, job_id, version):
    job = selectors.job_get(user=request.user, public_id=job_id)
    worksheet = selectors.worksheet_ready(job=job, version=version)
    return downloads.worksheet_download(request, job, worksheet)


@pharmacy_staff_required
def job_label_pdf(request, job_id):
    return downloads.label_download(request, selectors.job_get(user=request.user, public_id=job_id))
