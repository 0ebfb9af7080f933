"""Closed days' figures kept for the metrics page (fulfillment.metrics)."""

from __future__ import annotations

from django.db import models


class MetricsDay(models.Model):
    """One closed day's preparations per formulation (of the orders signed that local day, in time zone `tz`) and the
    day's verification and claim-to-release times: made the first time a range asks for the day, then read instead of
    joining the day's ~800 preparations to their orders (and 270 approvals to theirs, 800 releases). Database triggers
    forget the day when a row it counts changes: an order signed (or signed again, by an amendment) or deleted, a
    preparation added, changed or removed (migration 0018); an approval recorded or removed, a job released, claimed
    or deleted (migration 0019)."""

    tz = models.CharField(max_length=64)
    day = models.DateField()
    formulations = models.JSONField(default=list, help_text="[[base name, ingredients, preparations], …]")
    seconds = models.JSONField(default=dict, help_text="{figure: [seconds, …]}: verification turnaround (approvals that "
                                                       "day) and claim to release (releases that day)")
    made_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "tz"], name="metrics_day_unique")]
