"""The pharmacy admin's audit search: who read or changed patient data, by patient, user and date,
on a page and as CSV. Exporting is itself an access event."""

from __future__ import annotations

import csv
import datetime as dt

from django import forms
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from orders import selectors as order_selectors
from portal.access import role_required
from portal.audit import AuditQuery, AuditRow, audit_search, record_access
from portal.models import AccessAction, Role, User

PAGE_ROWS = 200


class AuditForm(forms.Form):
    patient = forms.CharField(required=False, max_length=100, help_text="Name, the clinic's patient id, or the patient's id.")
    user = forms.ModelChoiceField(queryset=User.objects.order_by("username"), required=False, to_field_name="username",
                                  empty_label="Anyone")
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To (inclusive)")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("'From' is after 'To': swap the dates.")
        return data


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _query(form: AuditForm, user) -> tuple[AuditQuery | None, list]:
    """The query the form asks for, or None with the patients to choose from when the text is ambiguous."""
    data = form.cleaned_data
    patient_id = None
    matches = []
    if data.get("patient"):
        matches = order_selectors.patient_find(user=user, text=data["patient"])
        if len(matches) != 1:
            return None, matches
        patient_id = matches[0].pk
    return AuditQuery(
        patient_id=patient_id,
        user=data.get("user"),
        since=_day_start(data["since"]) if data.get("since") else None,
        until=_day_start(data["until"] + dt.timedelta(days=1)) if data.get("until") else None,
    ), matches


class _Echo:
    def write(self, value):
        return value


@role_required(Role.PHARMACY_ADMIN)
def audit_page(request):
    form = AuditForm(request.GET or None)
    context = {"form": form, "rows": None, "choices": [], "limit": PAGE_ROWS}
    if request.GET and form.is_valid():
        query, matches = _query(form, request.user)
        if query is None:
            context["choices"] = matches
        else:
            context["patient"] = matches[0] if matches else None
            if request.GET.get("format") == "csv":
                return _csv(request, query)
            if query.patient_id is not None:  # the page shows that patient's name and activity: itself a read
                record_access(request, object_type="audit", object_id="search", patient_id=query.patient_id)
            context["rows"] = audit_search(query, limit=PAGE_ROWS + 1)
            context["more"] = len(context["rows"]) > PAGE_ROWS
            context["rows"] = context["rows"][:PAGE_ROWS]
    response = render(request, "portal/audit.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _csv(request, query: AuditQuery):
    record_access(request, object_type="audit", object_id="export", patient_id=query.patient_id, action=AccessAction.EXPORT)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(AuditRow.CSV_HEADER)
        for row in audit_search(query):
            yield writer.writerow([_no_formula(value) for value in row.as_csv()])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _no_formula(value: str) -> str:
    """A cell a spreadsheet would run as a formula is written as text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
