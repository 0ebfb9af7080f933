"""Reads for the site shell."""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.utils import timezone

from portal.models import Pharmacy


def prescriber_for_user(*, user):
    from orders.models import Prescriber

    try:
        return Prescriber.objects.select_related("clinic", "user").prefetch_related("licences").get(user=user)
    except Prescriber.DoesNotExist:
        raise Http404("No prescriber profile for this account.") from None


def licences_with_status(licences, today: dt.date) -> list[dict]:
    return [
        {"licence": lic, "active": lic.is_active_on(today), "expires_soon": lic.is_active_on(today) and (lic.expires_on - today).days <= 60}
        for lic in sorted(licences, key=lambda lic: lic.state)
    ]


def pharmacy_overview() -> dict:
    today = timezone.localdate()
    pharmacy = Pharmacy.objects.prefetch_related("licences").order_by("pk").first()
    licences = licences_with_status(pharmacy.licences.all(), today) if pharmacy else []
    return {
        "pharmacy": pharmacy,
        "licensed_states": [row["licence"].state for row in licences if row["active"]],
        "inactive_licences": [row for row in licences if not row["active"]],
        "expiring_licences": [row for row in licences if row["expires_soon"]],
    }
