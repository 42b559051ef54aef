#!/usr/bin/env bash
# HTTP baseline of the foundation: liveness, readiness (one DB round trip) and an
# authenticated request (API-key lookup in a transaction), `merchant serve --workers 2`.
#
#   bash bench/http_baseline.sh            # needs wrk (apt-get install wrk)
#
# Uses MERCHANT_BENCH_DATABASE_URL (default: the local server, database merchant_bench,
# recreated); results are printed, copy them into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${MERCHANT_BENCH_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
DB_URL="${MERCHANT_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/merchant_bench}"
PORT="${PORT:-8811}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"

psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS merchant_bench WITH (FORCE)" -c "CREATE DATABASE merchant_bench"
export MERCHANT_DATABASE_URL="$DB_URL" MERCHANT_LOG_LEVEL=WARNING
merchant db upgrade >/dev/null
TOKEN=$(merchant keys create --role agent --name bench 2>/dev/null)

merchant serve --port "$PORT" --workers 2 >/tmp/merchant-bench.log 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "localhost:$PORT/readyz" >/dev/null && break; sleep 0.2; done

for path in /healthz /readyz /whoami; do
  echo "== GET $path (wrk -t1 -c$CONNECTIONS -d$DURATION, 3 s warm-up)"
  wrk -t1 -c"$CONNECTIONS" -d3s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path" >/dev/null
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT$path" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
done
