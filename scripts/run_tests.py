"""`make test`: run the whole suite on the real services when they answer.

PostgreSQL and Redis on their default local ports are used when they answer; otherwise the
suite runs on SQLite and says loudly what it skipped. REQUIRE_SERVICES=1 and REQUIRE_BROWSER=1
turn those skips into failures (CI sets both).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import services  # noqa: E402


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def main() -> int:
    env = dict(os.environ, PORTAL_ENV="test", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CACHE_URL", None)
    have = {"postgres": services.postgres_answers(), "redis": services.redis_answers(), "browser": services.chromium_runs()}
    if have["postgres"]:
        env["DATABASE_URL"] = services.POSTGRES_URL
    if have["redis"]:
        env["CELERY_BROKER_URL"] = services.REDIS_URL
        env["CACHE_URL"] = services.CACHE_REDIS_URL
    for name, ok in have.items():
        env[f"PORTAL_TEST_{name.upper()}"] = "1" if ok else "0"

    missing = [name for name, ok in have.items() if not ok]
    print(
        "make test: PostgreSQL {}, Redis {}, Chromium {}".format(
            *("yes" if have[k] else "NO" for k in ("postgres", "redis", "browser"))
        ),
        flush=True,
    )
    if missing:
        bar = "!" * 78
        print(f"\n{bar}\n!! NOT AVAILABLE: {', '.join(missing)}.")
        if not have["postgres"]:
            print("!! The suite runs on SQLite; integration tests (PostgreSQL, Redis, Celery worker) are SKIPPED.")
        elif not have["redis"]:
            print("!! Integration tests that need Redis and a Celery worker are SKIPPED.")
        if not have["browser"]:
            print("!! Browser tests (Playwright + Chromium at /usr/bin/chromium) are SKIPPED.")
        if flag("REQUIRE_SERVICES") or flag("REQUIRE_BROWSER"):
            print("!! REQUIRE_SERVICES / REQUIRE_BROWSER is set: those tests FAIL instead.")
        print(f"{bar}\n", flush=True)

    args = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    code = subprocess.call(args, cwd=ROOT, env=env)
    if code == 5:
        print("make test: pytest collected no tests; that is a failure.", file=sys.stderr)
        return 1
    if missing and code == 0:
        print(f"\nmake test: PASSED, but WITHOUT {', '.join(missing)}: those tests were skipped (see above).")
    return code


if __name__ == "__main__":
    sys.exit(main())
