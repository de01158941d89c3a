#!/usr/bin/env bash
# Schemathesis against the OpenAPI document a running poigate serves.
#
#   tests/schemathesis/run.sh POIGATE_BIN SCHEMATHESIS_BIN
#
# Starts `poigate serve --demo` on a free port with a fresh data directory (rate limits
# off: thousands of generated requests a second from one address and one key are the point
# here, not abuse), then runs schemathesis with a bounded number of examples per operation.
# It fails on any 5xx, on a response that does not match the documented schema (body,
# status code, content type, headers), and when the server cannot be started.
# SCHEMATHESIS_MAX_EXAMPLES (default 50) and SCHEMATHESIS_SEED (default fixed, so a CI
# failure replays exactly; set it to "random" to explore) tune the run.
set -euo pipefail
poigate="${1:?usage: run.sh POIGATE_BIN SCHEMATHESIS_BIN}"
schemathesis="${2:?usage: run.sh POIGATE_BIN SCHEMATHESIS_BIN}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
seed="${SCHEMATHESIS_SEED:-20261130}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/poigate.toml" <<'TOML'
[rate_limits]
failed_auth_per_address = { burst = 0, per_minute = 0 }
failed_auth_per_key_prefix = { burst = 0, per_minute = 0 }
pairing_attempts_per_terminal = { burst = 0, per_minute = 0 }
requests_per_key = { burst = 0, per_minute = 0 }
TOML

# Port 0: the server prints the address it bound; read it from its log.
key="pg_test_schemathesis$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
POIGATE_DEMO_API_KEY="$key" "$poigate" serve --demo --config "$work/poigate.toml" \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir "$work/data" --sim-speed 0 \
  --log warn,poigate::server=info >"$work/serve.log" 2>&1 &
server_pid=$!

base=""
deadline=$((SECONDS + 60))
while [ -z "$base" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: poigate serve exited before listening:" >&2; cat "$work/serve.log" >&2; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "error: poigate serve did not listen within 60 s:" >&2; cat "$work/serve.log" >&2; exit 1
  fi
  addr="$(grep -o 'poigate listening addr=[0-9.:]*' "$work/serve.log" | head -1 | sed 's/.*addr=//')" || true
  if [ -n "$addr" ] && curl -sf "http://$addr/readyz" >/dev/null; then base="http://$addr"; else sleep 0.1; fi
done
echo "poigate at $base; schemathesis: $max_examples examples per operation, seed $seed"

# Real identifiers for the operations that take one, so they reach their logic instead of
# answering 404 to every generated id: a demo terminal, an approved sale (its interaction
# and transaction) and a webhook endpoint (its deliveries).
auth="Authorization: Bearer $key"
json="Content-Type: application/json"
terminal="$(curl -sf "$base/v1/terminals" -H "$auth" | jq -r '.data[0].id')"
interaction="$(curl -sf "$base/v1/interactions" -H "$auth" -H "$json" \
  -d "{\"terminal\": \"$terminal\", \"type\": \"sale\", \"amount\": {\"value\": 1250, \"currency\": \"EUR\"}}" | jq -r .id)"
transaction="$(curl -sf "$base/v1/interactions/$interaction?wait=30" -H "$auth" | jq -r '.transaction.id')"
endpoint="$(curl -sf "$base/v1/webhook-endpoints" -H "$auth" -H "$json" \
  -d '{"url": "http://127.0.0.1:9/schemathesis"}' | jq -r .id)"
for v in terminal interaction transaction endpoint; do
  if [ -z "${!v}" ] || [ "${!v}" = null ]; then
    echo "error: could not prepare a $v for the run" >&2; tail -20 "$work/serve.log" >&2; exit 1
  fi
done
cat > "$work/schemathesis.toml" <<TOML
[[operations]]
include-path-regex = '^/v1/(terminals|test-helpers/terminals)/\{id\}'
parameters = { "path.id" = "$terminal" }

[[operations]]
include-path-regex = '^/v1/interactions/\{id\}'
parameters = { "path.id" = "$interaction" }

[[operations]]
include-path-regex = '^/v1/transactions/\{id\}'
parameters = { "path.id" = "$transaction" }

[[operations]]
include-path-regex = '^/v1/webhook-endpoints/\{id\}'
parameters = { "path.id" = "$endpoint" }

# The merchant-wide stream never ends by itself: its first message (\`ready\`) is checked.
[[operations]]
include-path = "/v1/events/stream"
max-stream-events = 1
TOML

seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
"$schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" --url "$base" \
  -H "Authorization: Bearer $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
  --max-examples "$max_examples" "${seed_args[@]}" --request-timeout 15 --no-color

# The server must have survived the run.
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "error: poigate serve died during the run:" >&2; tail -50 "$work/serve.log" >&2; exit 1
fi
if grep -q "panicked" "$work/serve.log"; then
  echo "error: poigate panicked during the run:" >&2; grep -A5 panicked "$work/serve.log" >&2; exit 1
fi
echo "schemathesis: passed"
