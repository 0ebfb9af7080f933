"""What every page's frame needs: the idle limit its script warns before (static/js/portal.js)."""

from django.conf import settings


def session(request) -> dict:
    return {"SESSION_IDLE_SECONDS": settings.SESSION_COOKIE_AGE}
