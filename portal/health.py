"""/healthz: is the database up, is the broker up, when did a worker last check in."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_state() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the class name says which
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok", "vendor": connection.vendor}


def _broker_state() -> dict:
    if not settings.BROKER_CONFIGURED:
        return {"status": "not configured", "embedded": "filesystem queue in var/broker"}
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except redis.RedisError as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok"}


def _worker_state(database_ok: bool) -> dict:
    if not database_ok:
        return {"status": "unknown"}
    from fulfillment.selectors import worker_last_seen

    beat = worker_last_seen()
    if beat is None:
        return {"status": "not seen yet"}
    age = (timezone.now() - beat.seen_at).total_seconds()
    return {"status": "ok" if age < 120 else "stale", "last_seen_seconds_ago": round(age)}


@never_cache
@require_GET
def healthz(request):
    database = _database_state()
    broker = _broker_state()
    worker = _worker_state(database["status"] == "ok")
    healthy = database["status"] == "ok" and broker["status"] in ("ok", "not configured")
    body = {"status": "ok" if healthy else "degraded", "database": database, "broker": broker, "worker": worker}
    return JsonResponse(body, status=200 if healthy else 503)
