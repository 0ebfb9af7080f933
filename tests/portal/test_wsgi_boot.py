"""A gunicorn worker loads the whole application while it boots (portal/wsgi.py), before it accepts a connection:
Django otherwise loads the URL conf, and with it every view and serializer, on the worker's first request, which then
took 1.5-2 s instead of ~10 ms, once per worker after every start (docs/benchmarks.md, bench/throughput.sh)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wsgi_module_loads_the_views_before_the_first_request():
    script = ("import sys, portal.wsgi, gc; "
              "print(all(name in sys.modules for name in ('orders.api_validate', 'fulfillment.api_refills', 'fulfillment.fhir.api')), "
              "gc.get_freeze_count() > 0)")
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"], done.stdout
