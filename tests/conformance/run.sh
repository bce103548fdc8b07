#!/usr/bin/env bash
# Runs the official MCP conformance suite (server mode, every scenario)
# through the gateway: the fixture backend is registered with `mcpgw serve`
# over Streamable HTTP and over the 2024-11-05 HTTP+SSE transport, and a
# second fixture that asks the client (sampling, elicitation) on its
# standalone stream instead of the call's, as SDK servers do when they ask
# through the session object; each is exposed by a virtual server that keeps
# the backend's own names, and the suite talks to those servers' endpoints. Each with the pinned 0.1.16
# and with the pinned 0.2.0 alpha at --spec-version 2025-11-25, and the
# 2026-07-28 set (see below); each also against a fixture of the stateless
# era only, which the gateway calls without sessions, and the Tasks
# extension's scenarios against that one. No expected-failures file: any
# failed check fails the run.
#
# Needs the workspace binaries built (cargo build --workspace --bins) and
# npm; installs the pinned suite and Node 22 into node_modules itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/debug"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
npm ci --no-audit --no-fund --silent
export PATH="$here/node_modules/.bin:$PATH"
echo "conformance: node $(node --version)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # url, what
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "conformance: $2 did not come up at $1" >&2
  exit 1
}

fx_port="$(free_port)"
fx_standalone_port="$(free_port)"
fx_modern_port="$(free_port)"
gw_port="$(free_port)"
"$bin/fixture-mcp" --port "$fx_port" >"$work/fixture.log" 2>&1 &
pids+=($!)
"$bin/fixture-mcp" --port "$fx_standalone_port" --asks-on-standalone >"$work/fixture-standalone.log" 2>&1 &
pids+=($!)
"$bin/fixture-mcp" --port "$fx_modern_port" --era stateless >"$work/fixture-modern.log" 2>&1 &
pids+=($!)
AUTH_REQUIRED=false DATABASE_URL="sqlite:$work/registry.db" RUST_LOG=warn \
  "$bin/mcpgw" serve --port "$gw_port" >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$gw_port/ready" "the gateway"

admin=(--server "http://127.0.0.1:$gw_port")
for _ in $(seq 1 100); do
  "$bin/mcpgw" backend add --name everything --url "http://127.0.0.1:$fx_port/mcp" "${admin[@]}" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/mcpgw" backend add --name everything-sse --url "http://127.0.0.1:$fx_port/sse" --transport sse "${admin[@]}"
for _ in $(seq 1 100); do
  "$bin/mcpgw" backend add --name everything-standalone --url "http://127.0.0.1:$fx_standalone_port/mcp" "${admin[@]}" >/dev/null 2>&1 && break
  sleep 0.1
done
for _ in $(seq 1 100); do
  "$bin/mcpgw" backend add --name everything-modern --url "http://127.0.0.1:$fx_modern_port/mcp" "${admin[@]}" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/mcpgw" server create conformance --backend everything --keep-original-names "${admin[@]}"
"$bin/mcpgw" server create conformance-modern --backend everything-modern --keep-original-names "${admin[@]}"
"$bin/mcpgw" server create conformance-sse --backend everything-sse --keep-original-names "${admin[@]}"
"$bin/mcpgw" server create conformance-standalone --backend everything-standalone --keep-original-names "${admin[@]}"

# Served once the data plane has applied the servers' config.
for _ in $(seq 1 100); do
  status="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "http://127.0.0.1:$gw_port/servers/conformance-standalone/rpc")"
  [ "$status" = 200 ] && break
  sleep 0.1
done

failed=0
run_suite() { # server, package, extra args...
  local server="$1" pkg="$2"; shift 2
  local url="http://127.0.0.1:$gw_port/servers/$server/mcp"
  local out="$work/$server-$pkg$(printf -- '-%s' "$@" | tr -c 'A-Za-z0-9._-' '_')"
  echo "conformance: backend over $server, $pkg $*"
  if ! node "node_modules/$pkg/dist/index.js" server --url "$url" --suite all -o "$out" "$@" >"$out.log" 2>&1; then
    failed=1
  fi
  sed -n '/=== SUMMARY ===/,$p' "$out.log" | grep -E '✗|Total'
}
# conformance-modern: clients of the earlier revisions in front of a
# backend of the stateless era only (its input rounds asked of them by the
# gateway as real requests on their sessions).
for server in conformance conformance-sse conformance-standalone conformance-modern; do
  run_suite "$server" conformance-0.1
  run_suite "$server" conformance-0.2 --spec-version 2025-11-25
done

# MCP 2026-07-28 (stateless clients), the whole server set as the suite
# runs it (--suite all), in front of the legacy backends (the multi-round
# scenarios through the gateway's bridging of their mid-call requests into
# input_required rounds, those of the third fixture asked on its session's
# standalone stream) and in front of a backend of the stateless era
# itself (its own rounds passed through, its requestState sealed inside
# the gateway's).
for server in conformance conformance-sse conformance-standalone conformance-modern; do
  run_suite "$server" conformance-0.2 --spec-version 2026-07-28
done

# The Tasks extension's scenarios (extension scenarios are not in --suite
# all), through the gateway to the backend of the stateless era, which
# runs the tasks, and to a legacy one: every one of them.
tasks_scenarios=(
  tasks-lifecycle tasks-capability-negotiation tasks-wire-fields tasks-request-state-removal
  tasks-mrtr-input tasks-request-headers tasks-dispatch-and-envelope tasks-status-notifications
  tasks-required-task-error tasks-mrtr-composition
)
# Each scenario on its own; one the suite skips (not applicable to the
# arguments given) counts as failed: nothing is skipped silently.
run_each() { # server, what, suite arguments (one word, may be empty), scenarios...
  local server="$1" what="$2" url="http://127.0.0.1:$gw_port/servers/$1/mcp" bad=()
  local args=($3)
  shift 3
  for scenario in "$@"; do
    local out="$work/$server-2026-$scenario"
    if ! node node_modules/conformance-0.2/dist/index.js server --url "$url" "${args[@]}" \
      --scenario "$scenario" -o "$out" >"$out.log" 2>&1 || grep -q '^SKIPPED' "$out.log"; then
      bad+=("$scenario")
      sed -n '/=== SUMMARY ===/,$p' "$out.log" | grep -E '✗' || tail -5 "$out.log"
    fi
  done
  echo "conformance: backend over $server, $what: $# scenarios, ${#bad[@]} failed ${bad[*]}"
  [ "${#bad[@]}" -eq 0 ] || failed=1
}
# Extension scenarios are off the spec timeline: no --spec-version.
run_each conformance-modern "2026-07-28 clients, Tasks extension" "" "${tasks_scenarios[@]}"
# The same scenarios in front of the legacy backend, which runs no tasks:
# the gateway holds them (its long calls become tasks of the gateway's,
# their mid-call requests the tasks' input rounds).
run_each conformance "2026-07-28 clients, Tasks extension held by the gateway" "" "${tasks_scenarios[@]}"

if [ "$failed" -ne 0 ]; then
  echo "conformance: FAILED; gateway log:" >&2
  tail -50 "$work/gateway.log" >&2
  exit 1
fi
echo "conformance: every scenario passed"
