"""Settings for the suite: the real settings in test mode, on PostgreSQL and Redis when they answer.

`make test` (scripts/run_tests.py) probes and sets the environment; running `pytest` alone probes here.
"""

import os

os.environ["PORTAL_ENV"] = "test"

if "PORTAL_TEST_POSTGRES" not in os.environ:
    from tests import services

    for _name, _probe in (("POSTGRES", services.postgres_answers), ("REDIS", services.redis_answers), ("BROWSER", services.chromium_runs)):
        os.environ[f"PORTAL_TEST_{_name}"] = "1" if _probe() else "0"
    if os.environ["PORTAL_TEST_POSTGRES"] == "1":
        os.environ.setdefault("DATABASE_URL", services.POSTGRES_URL)
    if os.environ["PORTAL_TEST_REDIS"] == "1":
        os.environ.setdefault("CELERY_BROKER_URL", services.REDIS_URL)
        os.environ.setdefault("CACHE_URL", services.CACHE_REDIS_URL)

if not os.environ.get("DATABASE_URL"):
    import tempfile

    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.gettempdir()}/portal-test-{os.getpid()}.sqlite3"

from portal.settings import *  # noqa: E402,F403

MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SIMULATED_CARRIER_STEP_SECONDS = 1  # the simulated carrier delivers within seconds in tests
