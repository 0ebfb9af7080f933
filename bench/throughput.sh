#!/usr/bin/env bash
# Requests per second of validate, submit, the FHIR create and the refill request against a bare authenticated
# DRF endpoint that inserts one row, all on the same gunicorn (4 sync workers, as production runs them) and
# PostgreSQL, with Redis for the rate limits when CACHE_URL is given (as in production). Needs wrk.
# Usage: [DURATION=15] [CONNECTIONS=8] [TARGETS="bare validate submit fhir refill"] [CACHE_URL=redis://…] bash bench/throughput.sh
#
# Each worker is warmed before anything is measured: a first pass of every target, not counted, so that no
# worker's first database connection, formulary load or first request of a path lands in a figure. (The URL
# conf and the views are loaded when a worker boots: portal/wsgi.py.)
# The sync worker closes every connection after its answer (`Connection: close`: it does not do keep-alive), so
# wrk opens a connection per request, as a proxy in front of production does; wrk's timeout is raised from 2 s to
# 10 s so that a slow answer on a loaded machine is counted in the latency, not dropped as a socket timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15}; CONNECTIONS=${CONNECTIONS:-8}; PORT=${PORT:-8198}; WARMUP=${WARMUP:-3}
TARGETS=${TARGETS:-bare validate submit fhir refill}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# No order limit for the bench: it measures how fast one account can submit.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal_load} BENCH_ENDPOINTS=1 DEBUG=0 ORDER_CREATE_PER_MINUTE=100000000
DB_NAME=${DATABASE_URL##*/}
psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='$DB_NAME'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "create database $DB_NAME" >/dev/null
.venv/bin/python manage.py migrate -v0 && .venv/bin/python manage.py demo_data >/dev/null
# Without CACHE_URL the rate limits count in the database cache (as `make run`): its table must exist, or every
# submit fails (the counter's error aborts the request's transaction: 500s).
[ -n "${CACHE_URL:-}" ] || .venv/bin/python manage.py createcachetable
# Without CELERY_BROKER_URL the tasks a request enqueues (a refill's worksheet) go to the filesystem broker (as
# `make run`): its folders must exist, or every such request logs a traceback (and pays for it).
[ -n "${CELERY_BROKER_URL:-}" ] || mkdir -p var/broker/queue var/broker/processed var/broker/control
mkdir -p var/load
# The token exchange needs a two-factor code for a prescriber: issue the bench's token directly.
TOKEN=$(.venv/bin/python manage.py api_token dr.rivera --name bench)
FHIR_NPI=$(.venv/bin/python manage.py shell -v0 -c "from orders.models import Prescriber; print(Prescriber.objects.get(user__username='dr.rivera').npi)")
export TOKEN FHIR_NPI WRK_THREADS=2
.venv/bin/gunicorn portal.wsgi --bind 127.0.0.1:$PORT --workers 4 >var/load/throughput-gunicorn.log 2>&1 &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done

# The refill target: each request needs its own shipped preparation with a refill left, made beforehand
# (bench/refill_pool.py); the warm-up pass and the measured pass take from separate pools.
refill_pool() {  # $1: how many, $2: file
  .venv/bin/python bench/refill_pool.py --size "$1" --out "$2"
}

run() {  # $1: target, $2: seconds, $3: output
  TARGET=$1 wrk -t2 -c"$CONNECTIONS" -d"$2s" --timeout 10s --latency -s bench/wrk_post.lua "http://127.0.0.1:$PORT" > "$3" 2>&1
}

for target in $TARGETS; do
  if [ "$target" = refill ]; then
    refill_pool "${WARMUP_POOL:-400}" var/load/refill-pool-warm.txt
    export REFILL_POOL=var/load/refill-pool-warm.txt
  fi
  run "$target" "$WARMUP" "var/load/wrk-$target-warmup.txt"
done

echo "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for target in $TARGETS; do
  if [ "$target" = refill ]; then
    # more than the run can ask for: a spent pool shows as non-2xx (a request for a preparation that does not exist)
    refill_pool "${REFILL_POOL_SIZE:-$((DURATION * 200))}" var/load/refill-pool.txt
    export REFILL_POOL=var/load/refill-pool.txt
  fi
  run "$target" "$DURATION" "var/load/wrk-$target.txt"
  .venv/bin/python bench/wrk_summary.py "$target" "var/load/wrk-$target.txt"
done
