#!/usr/bin/env bash
# Throughput of validate and submit against a bare authenticated DRF endpoint that inserts one row,
# all on the same gunicorn (4 sync workers) and PostgreSQL. Needs wrk (apt-get install wrk).
# Usage: [DURATION=15] [CONNECTIONS=8] bash bench/throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15}; CONNECTIONS=${CONNECTIONS:-8}; PORT=${PORT:-8198}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# No order limit for the bench: it measures how fast one account can submit.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal_load} BENCH_ENDPOINTS=1 DEBUG=0 ORDER_CREATE_PER_MINUTE=100000000
psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='portal_load'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "create database portal_load" >/dev/null
.venv/bin/python manage.py migrate -v0 && .venv/bin/python manage.py demo_data >/dev/null
mkdir -p var/load
.venv/bin/gunicorn portal.wsgi --bind 127.0.0.1:$PORT --workers 4 >var/load/throughput-gunicorn.log 2>&1 &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
# The token exchange needs a two-factor code for a prescriber: issue the bench's token directly.
TOKEN=$(.venv/bin/python manage.py api_token dr.rivera --name bench)
export TOKEN
echo "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for target in bare validate submit; do
  TARGET=$target wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/wrk_post.lua "http://127.0.0.1:$PORT" > "var/load/wrk-$target.txt" 2>&1
  .venv/bin/python bench/wrk_summary.py "$target" "var/load/wrk-$target.txt"
done
