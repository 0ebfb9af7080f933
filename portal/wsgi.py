import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Load the URL conf (and with it every view, serializer and form) now, while the worker boots and before it
# accepts a connection: Django otherwise does it on the worker's first request, which then took 1.5-2 s instead
# of ~10 ms (at load 6), once per worker after every start. bench/throughput.sh measured those first requests
# as the application's speed ("not measurable", docs/benchmarks.md).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns

# Everything loaded so far lives as long as the process: keep it out of the cyclic collector's full
# scans, which otherwise pause a request for a few hundred ms every few dozen requests (bench/scale.py).
gc.freeze()
