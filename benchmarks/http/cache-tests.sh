#!/usr/bin/env bash
# The public HTTP caching test suite (github.com/http-tests/cache-tests, the suite behind cache-tests.fyi) run through
# the accelerator, scored by the suite's own rules: a required test that fails is a conformance failure; optimal and
# check tests are informative. A developer tool (needs Node 18+ and npm), not part of ./build.sh test.
#
# Usage: benchmarks/http/cache-tests.sh [--suite DIR] [--results FILE] [--baseline FILE] [--id TEST-ID] [-- ACCELERATOR-ARGS...]
#   --suite DIR      the suite's checkout (default: $CACHE_TESTS_DIR, else ${TMPDIR:-/tmp}/cache-tests); cloned from GitHub at the
#                    pinned commit when missing (needs network), its npm dependencies installed when missing
#   --results FILE   keep the raw results (JSON keyed by test id)
#   --baseline FILE  compare with an earlier results file: lists every test gained or lost, exit code 1 if one was lost
#   --id TEST-ID     run one test and print its requests and responses (debugging)
#   -- ARGS          passed to the accelerator, e.g. -- --StampedeGuard:Caching:StaleIfError 00:10:00
# Prints "required: P passed, F failed; optimal: ...; check: ..." and the required tests that did not pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benchmarks/http
SUITE_REPO=https://github.com/http-tests/cache-tests
SUITE_COMMIT=b55b8bda3dbb8c927c04e85bd8d496a8caa3e4ba   # 2026-07-20; docs/http.md's scores are for this commit
SUITE="${CACHE_TESTS_DIR:-${TMPDIR:-/tmp}/cache-tests}"
ART="${ART:-/tmp/art-cache-tests}"
RESULTS="" BASELINE="" TEST_ID=""
ACC_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    --baseline) BASELINE="$2"; shift 2 ;;
    --id) TEST_ID="$2"; shift 2 ;;
    --) shift; ACC_ARGS=("$@"); break ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# 1. The suite, at the pinned commit.
if [ ! -f "$SUITE/tests/index.mjs" ]; then
  echo "cache-tests: cloning $SUITE_REPO at $SUITE_COMMIT into $SUITE" >&2
  git clone -q "$SUITE_REPO" "$SUITE"
  git -C "$SUITE" checkout -q "$SUITE_COMMIT"
elif [ -d "$SUITE/.git" ] && [ "$(git -C "$SUITE" rev-parse HEAD)" != "$SUITE_COMMIT" ]; then
  echo "cache-tests: warning: $SUITE is at $(git -C "$SUITE" rev-parse --short HEAD), not the pinned ${SUITE_COMMIT:0:7}; scores may differ from docs/http.md" >&2
fi
if [ ! -d "$SUITE/node_modules/undici" ]; then
  echo "cache-tests: installing the suite's npm dependencies" >&2
  (cd "$SUITE" && npm install --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
fi

# 2. The accelerator (built outside the source tree, as benchmarks/http/run.sh does).
dotnet build src/StampedeGuard.Accelerator -c Release --artifacts-path "$ART" -v q -nologo >/dev/null
DLL="$ART/bin/StampedeGuard.Accelerator/release/StampedeGuard.Accelerator.dll"

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
ORIGIN_PORT=$(free_port)
PROXY_PORT=$(free_port)
while [ "$PROXY_PORT" = "$ORIGIN_PORT" ]; do PROXY_PORT=$(free_port); done
WORK=$(mktemp -d)
SERVER_PID="" PROXY_PID=""
cleanup() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 3. The suite's test server (the origin) and the accelerator in front of it, both on loopback.
npm_config_protocol=http npm_config_port="$ORIGIN_PORT" npm_config_pidfile="$WORK/server.pid" \
  node --import "$PWD/$HERE/cache-tests-loopback.mjs" "$SUITE/test-engine/server/server.mjs" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
dotnet "$DLL" --origin "http://127.0.0.1:$ORIGIN_PORT" --urls "http://127.0.0.1:$PROXY_PORT" ${ACC_ARGS[@]+"${ACC_ARGS[@]}"} >"$WORK/accelerator.log" 2>&1 &
PROXY_PID=$!
for _ in $(seq 1 200); do
  curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/config/" 2>/dev/null && break
  kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/accelerator.log" >&2; exit 1; }
  sleep 0.1
done

# 4. The CLI client, through the accelerator.
run_cli() { (cd "$SUITE" && npm_config_base="http://127.0.0.1:$PROXY_PORT" npm_config_id="$1" npm_package_config_id="$1" node --no-warnings test-engine/cli.mjs); }
if [ -n "$TEST_ID" ]; then
  run_cli "$TEST_ID"
  exit 0
fi
run_cli "" >"$WORK/results.json"
[ -n "$RESULTS" ] && cp "$WORK/results.json" "$RESULTS"

# 5. Scores, by the suite's rules.
echo "cache-tests ${SUITE_COMMIT:0:7} through the accelerator${ACC_ARGS[*]:+ (${ACC_ARGS[*]})}:"
node "$HERE/cache-tests-score.mjs" "$SUITE" "$WORK/results.json"
if [ -n "$BASELINE" ]; then
  echo
  echo "compared with $BASELINE:"
  node "$HERE/cache-tests-compare.mjs" "$SUITE" "$BASELINE" "$WORK/results.json"
fi
