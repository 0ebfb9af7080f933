#!/usr/bin/env bash
# Load test: gunicorn (4 workers) on PostgreSQL with the demo data, locust headless for $DURATION.
# Usage: bash bench/load.sh [DURATION=60s] [USERS=40]; results go to stdout and var/load/.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60s}; USERS=${USERS:-40}; PORT=${PORT:-8199}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal_load}
export CACHE_URL=${CACHE_URL:-redis://127.0.0.1:6379/2}
export ORDER_CREATE_PER_MINUTE=100000000  # every simulated prescriber is dr.rivera: no per-account limit here
psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='portal_load'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "create database portal_load" >/dev/null
.venv/bin/python -m pip install -q -r requirements-bench.txt -c constraints.txt 2>/dev/null || .venv/bin/python -m pip install -q -r requirements-bench.txt
.venv/bin/python manage.py migrate -v0
.venv/bin/python manage.py demo_data >/dev/null
mkdir -p var/load
.venv/bin/python bench/patient_links.py > var/load/links.txt
.venv/bin/gunicorn portal.wsgi --bind 127.0.0.1:$PORT --workers 4 --logger-class portal.logfilters.GunicornLogger >var/load/gunicorn.log 2>&1 &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
# The token exchange needs a two-factor code for staff and prescribers: tokens are issued here instead.
PRESCRIBER_TOKEN=$(.venv/bin/python manage.py api_token dr.rivera --name load) STAFF_TOKEN=$(.venv/bin/python manage.py api_token tech --name load) \
PATIENT_LINKS_FILE=var/load/links.txt .venv/bin/locust -f bench/locustfile.py --headless -u "$USERS" -r 10 -t "$DURATION" \
  --host http://127.0.0.1:$PORT --csv var/load/result --only-summary 2>&1 | tail -30
