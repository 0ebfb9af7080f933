"""gunicorn's settings, read from the working directory (the image's /app, `make run`, bench/throughput.sh).
The command line still names the app, the address and the workers."""


def post_fork(server, worker):
    """In each worker, before it loads the app: collect young objects less often (portal.gc_tuning)."""
    from portal.gc_tuning import gc_tune

    gc_tune()
