import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Everything loaded so far lives as long as the process: keep it out of the cyclic collector's full
# scans, which otherwise pause a request for a few hundred ms every few dozen requests (bench/scale.py).
gc.freeze()
