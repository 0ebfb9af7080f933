"""Change history that the application cannot rewrite: PostgreSQL triggers (django-pghistory).

Every insert, update and delete of a tracked model writes one row to its `<Model>History` table from
a trigger, so `QuerySet.update()`, bulk writes and raw SQL are caught too. History tables are
append-only (PGHISTORY_APPEND_ONLY: triggers refuse UPDATE and DELETE). Each row carries the
request's context (user, url, client address, method) copied into it (ContextJSONField), so no
other table has to be trusted. Triggers exist on PostgreSQL only: the embedded SQLite default
keeps no change history (it keeps access events, portal.audit).
"""

from __future__ import annotations

import json

import pghistory
from django.db import connection, models
from pghistory import config as pghistory_config
from pghistory import runtime as pghistory_runtime
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
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


_inject_every_statement = pghistory_runtime._inject_history_context


def _inject_once_per_transaction(execute, sql, params, many, context):
    """pghistory's context, set once per transaction instead of before every write.

    pghistory prefixes each INSERT, UPDATE, DELETE and SAVEPOINT with `SELECT set_config(…, true)` (the context id and
    its JSON: who, url, method, address) so that the triggers can copy it into history rows. The setting lasts until
    the transaction ends, so once it is set the next statements of the same transaction need not send it again. It is
    sent again whenever it could be missing or stale: a new transaction (the connection was idle), autocommit (each
    statement its own transaction), a savepoint it was set under since released or rolled back (a rollback undoes it),
    or a changed context (another request, or metadata added by a nested pghistory.context)."""
    tracker = getattr(pghistory_runtime._tracker, "value", None)
    wrapper = context["connection"]
    cursor = context["cursor"]
    if cursor.connection.get_transaction_status() == TRANSACTION_STATUS_IDLE:
        wrapper._history_context_set = None  # this statement starts a transaction (or runs alone)
    if tracker is None or _ends_a_savepoint(sql) or not pghistory_runtime._can_inject_variable(cursor, sql):
        return execute(sql, params, many, context)
    state = (tracker.id, json.dumps(tracker.metadata, cls=pghistory_config.json_encoder()))
    savepoints = tuple(wrapper.savepoint_ids)
    done = getattr(wrapper, "_history_context_set", None)
    if (done is not None and wrapper.in_atomic_block and done[0] == state
            and savepoints[:len(done[1])] == done[1]):
        return execute(sql, params, many, context)
    result = _inject_every_statement(execute, sql, params, many, context)
    in_transaction = wrapper.in_atomic_block and not wrapper.get_autocommit()
    wrapper._history_context_set = (state, savepoints) if in_transaction else None
    return result


def _ends_a_savepoint(sql) -> bool:
    """ROLLBACK TO / RELEASE SAVEPOINT write nothing, and Django has already dropped the savepoint from its list when
    it sends them: a context set in the same statement would run inside the savepoint and (rolled back) be undone."""
    head = (sql.decode() if isinstance(sql, bytes) else sql or "").lstrip()[:8].lower()
    return head.startswith(("rollback", "release"))


def context_once_per_transaction() -> None:
    """Install `_inject_once_per_transaction` in place of pghistory's own (portal's AppConfig.ready).
    pghistory.context.__enter__ reads the module's function each time it installs its execute wrapper."""
    pghistory_runtime._inject_history_context = _inject_once_per_transaction


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
