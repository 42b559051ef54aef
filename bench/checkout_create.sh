#!/usr/bin/env bash
# Create-session throughput: POST /checkout_sessions (every request its own Idempotency-Key)
# next to POST /_bench/insert (auth + one transaction + one INSERT), same stack, same run.
#
#   bash bench/checkout_create.sh          # needs wrk (apt-get install wrk)
#
# `merchant serve --workers 2` on a recreated database merchant_bench with a small catalog.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${MERCHANT_BENCH_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
DB_URL="${MERCHANT_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/merchant_bench}"
PORT="${PORT:-8812}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"

psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS merchant_bench WITH (FORCE)" -c "CREATE DATABASE merchant_bench"
export MERCHANT_DATABASE_URL="$DB_URL" MERCHANT_LOG_LEVEL=WARNING MERCHANT_BENCH_ENDPOINTS=true
merchant db upgrade >/dev/null
merchant catalog import tests/catalog/feeds/openai.csv >/dev/null 2>&1
TOKEN=$(merchant keys create --role agent --name bench 2>/dev/null)

merchant serve --port "$PORT" --workers 2 >/tmp/merchant-bench.log 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "localhost:$PORT/readyz" >/dev/null && break; sleep 0.2; done

LUA=$(mktemp --suffix=.lua)
cat >"$LUA" <<LUA
local counter = 0
local thread_id = tostring(math.random(1, 1e9))
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["API-Version"] = "2026-04-17"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"currency":"usd","line_items":[{"id":"mug","quantity":2},{"id":"tee-red-s","quantity":1}],"fulfillment_details":{"address":{"name":"B","line_one":"1 Main St","city":"NYC","state":"NY","country":"US","postal_code":"10001"}},"capabilities":{}}'
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = thread_id .. "-" .. counter
  return wrk.format(nil)
end
LUA

for path in /_bench/insert /checkout_sessions; do
  echo "== POST $path (wrk -t1 -c$CONNECTIONS -d$DURATION after a 3 s warm-up)"
  wrk -t1 -c"$CONNECTIONS" -d3s -s "$LUA" "http://127.0.0.1:$PORT$path" >/dev/null
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:$PORT$path" \
    | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
done
