"""An order's history as sentences people read ("Claimed by Tess Tech.", "QC passed: pH 5.1, fill 51 g."),
in the same words for the prescriber and the pharmacy. Event kinds and statuses stay codes in the API."""

from __future__ import annotations

import re

from orders.models import OrderEvent, PreparationStatus
from portal.numbers import percent_text

_NUMBER_PREFIX = re.compile(r"^RX-\d{4}-\d{6}-\d+(-R\d+)?(:\s*)?")
# Events the pharmacy keeps for itself: a refused move is an internal matter, not news for the prescriber.
PHARMACY_ONLY_KINDS = frozenset({"transition_refused"})
# Refills and renewals: their message is already the sentence ("renewed by Dr Rivera as order RX-…").
REFILL_KINDS = frozenset({"refill_requested", "refill_released", "renewal_requested", "renewal_approved", "renewal_denied",
                          "auto_refill_paused", "auto_refill_resumed"})
# Events about one preparation: their sentence starts "Preparation 2: …".
PREPARATION_KINDS = frozenset({"job_status", "qc_passed", "transition_refused"}) | REFILL_KINDS


def _who(event: OrderEvent) -> str:
    if event.actor is None:
        return "the system"
    return event.actor.get_full_name() or event.actor.username


def _detail(event: OrderEvent) -> str:
    return _NUMBER_PREFIX.sub("", event.message or "").strip()


def _quoted(text: str) -> str:
    return f": “{text}”" if text else ""


def _job_sentence(event: OrderEvent, who: str, detail: str) -> str:
    frm, to = event.from_status, event.to_status
    S = PreparationStatus
    if to == S.QUEUED and frm == S.PENDING:
        return "Queued for compounding."
    refill = re.search(r"\(refill (\d+)\)", detail)
    if to == S.QUEUED and refill:
        return f"Refill {refill.group(1)} queued for compounding."
    if to == S.QUEUED and frm == S.COMPOUNDING:
        return "The claim expired; back in the queue." if event.actor is None else f"Given back to the queue by {who}."
    if frm == S.ON_HOLD and to != S.CANCELLED:
        return f"Taken off hold by {who}; {S(to).label.lower() if to in S.values else to} again."
    if to == S.COMPOUNDING:
        return f"Claimed by {who}." if frm == S.QUEUED else f"Claimed again for rework by {who}."
    if to == S.QC:
        yield_part = re.search(r"yield ([\d.]+) %", detail)  # the service writes it with two places: "yield 100.00 %"
        return f"Compounding record entered by {who}" + (f" (yield {percent_text(yield_part.group(1))})." if yield_part else ".")
    if to == S.REWORK:
        return f"QC failed{': ' + detail.removeprefix('QC failed: ') if detail else ''} Sent back for rework."
    if to == S.READY:
        return f"Verified and released by {who}; ready to ship."
    if to == S.SHIPPED:
        return f"Shipped by {who}" + (f" ({detail.removeprefix('shipped ')})." if detail else ".")
    if to == S.DELIVERED:
        return "Delivered."
    if to == S.ON_HOLD:
        return f"Put on hold by {who}" + (f": {detail}" if detail and not detail.startswith("RX-") else ".")
    if to == S.CANCELLED:
        return "Cancelled."
    label = S(to).label if to in S.values else to
    return f"Now {label.lower()}."


def event_sentence(event: OrderEvent) -> str:
    who, detail = _who(event), _detail(event)
    kind = event.kind
    if kind == "draft_created":
        text = f"Draft started by {who}."
    elif kind == "signed":
        text = f"Signed by {who} and sent to the pharmacy."
    elif kind == "approved":
        text = f"Approved by {who}." + (f" {detail}." if detail else "")
    elif kind == "rejected":
        text = f"Rejected by {who}{_quoted(detail)}"
    elif kind == "cancelled":
        text = f"Cancelled by {who}{_quoted(detail)}"
    elif kind == "clarification_requested":
        text = f"{who} asked the prescriber{_quoted(detail)}"
    elif kind == "clarification_answered":
        text = f"{who} answered{_quoted(detail)}"
    elif kind == "amended":
        text = f"{who} amended the order and signed it again{': ' + detail if detail else '.'}"
    elif kind == "qc_passed":
        text = f"QC passed: {detail}." if detail else "QC passed."
    elif kind in REFILL_KINDS:
        text = detail[:1].upper() + detail[1:] + "." if detail else kind.replace("_", " ").capitalize() + "."
    elif kind == "job_status":
        text = _job_sentence(event, who, detail)
    elif kind == "transition_refused":
        text = f"A change by {who} was refused ({detail})."
    elif kind == "status_changed" and event.to_status == "shipped":
        text = "Order shipped: every preparation is on its way."
    elif kind == "status_changed" and event.to_status == "delivered":
        text = "Order delivered: every parcel has arrived."
    elif kind == "status_changed" and event.to_status:
        text = f"Now {event.to_status.replace('_', ' ')}."
    else:
        text = detail or kind.replace("_", " ").capitalize() + "."
    if event.preparation_id is not None and kind in PREPARATION_KINDS:
        text = f"Preparation {event.preparation.position}: {text[0].lower() + text[1:] if text[:2] not in ('QC',) else text}"
    return text


def history(events, *, pharmacy: bool) -> list[dict]:
    return [{"when": event.created_at, "text": event_sentence(event), "kind": event.kind}
            for event in events if pharmacy or event.kind not in PHARMACY_ONLY_KINDS]
