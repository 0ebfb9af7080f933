"""Change history that the application cannot rewrite: PostgreSQL triggers (django-pghistory).

Every insert, update and delete of a tracked model writes one row to its `<Model>History` table from
a trigger, so `QuerySet.update()`, bulk writes and raw SQL are caught too. History tables are
append-only (PGHISTORY_APPEND_ONLY: triggers refuse UPDATE and DELETE). Each row carries the
request's context (user, url, client address, method) copied into it (ContextJSONField), so no
other table has to be trusted. Triggers exist on PostgreSQL only: the embedded SQLite default
keeps no change history (it keeps access events, portal.audit).
"""

from __future__ import annotations

import pghistory
from django.db import connection, models
from django.db.models.fields.json import KeyTextTransform
from pghistory.middleware import HistoryMiddleware as PghistoryMiddleware

from portal.logfilters import redact


def tracked(*exclude: str, also=()):
    """Track inserts, updates and deletes of a model in `<Model>History`, leaving `exclude` out of
    the copies (secrets, and derived snapshots whose every copy would only cost space). An update
    that touches only excluded fields writes no row; `also` adds trackers for those that matter."""

    def decorate(model):
        return pghistory.track(
            pghistory.InsertEvent(),
            pghistory.UpdateEvent(),
            pghistory.DeleteEvent(),
            *also,
            exclude=list(exclude) or None,
            obj_field=pghistory.ObjForeignKey(related_name="history"),
            model_name=f"{model.__name__}History",
            # The audit search reads newest first, by date range and by the acting user.
            meta={"indexes": [
                models.Index(fields=["-pgh_created_at"], name=f"{model.__name__.lower()[:18]}_h_at"),
                models.Index(KeyTextTransform("user", "pgh_context"), name=f"{model.__name__.lower()[:18]}_h_user"),
            ]},
        )(model)

    return decorate


def history_context(**metadata):
    """Name who acts outside a request (a Celery task, a command): pghistory.context(...) on PostgreSQL,
    nothing elsewhere."""
    import contextlib

    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    return pghistory.context(**metadata)


class HistoryMiddleware(PghistoryMiddleware):
    """pghistory's middleware with the client address and method, the patient-link token cut out of
    the url, and nothing at all on databases without triggers (its SQL is PostgreSQL's)."""

    def get_context(self, request):
        from portal.ratelimit import client_address

        context = super().get_context(request)
        context["url"] = redact(request.path)
        context["method"] = request.method
        context["ip"] = client_address(request)
        return context

    def __call__(self, request):
        if connection.vendor != "postgresql":
            return self.get_response(request)
        return super().__call__(request)
