#!/usr/bin/env bash
# HTTP benchmarks, one run, both contenders on the same machine and payloads:
#   StampedeGuard response caching middleware  vs  ASP.NET Core OutputCache.
# Needs wrk (Debian: apt-get install -y wrk) and curl. Usage: benchmarks/http/run.sh [seconds-per-rps-round] [rounds]
# Both apps run side by side; the throughput runs alternate (A B A B ...) so background load hits both alike, and the
# median round is reported. Prints a markdown table: copy it into the HTTP section of docs/benchmarks.md with the machine description.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-5}"
ROUNDS="${2:-5}"
ART="${ART:-/tmp/art-http-bench}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk not found: installing it with apt-get" >&2
  sudo_cmd=""; [ "$(id -u)" != "0" ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq wrk >/dev/null
fi

dotnet build benchmarks/StampedeGuard.Http.Benchmarks -c Release --artifacts-path "$ART" -v q -nologo >/dev/null
DLL="$ART/bin/StampedeGuard.Http.Benchmarks/release/StampedeGuard.Http.Benchmarks.dll"
declare -A PORT=([stampede]=5101 [outputcache]=5102)
declare -A PID
declare -A RESULT

base() { echo "http://127.0.0.1:${PORT[$1]}"; }
stats() { curl -s "$(base "$1")/stats$2"; }
rps() { wrk -t2 -c"$2" -d"$3"s "$(base "$1")$4" | awk '/Requests\/sec/ {print $2}'; }
latency() { wrk -t2 -c"$2" -d"$3"s --latency "$(base "$1")$4" | awk '/Requests\/sec/ {r=$2} /^    Latency/ {l=$2} / 99%/ {p=$2} END {print r" req/s, mean "l", p99 "p}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cleanup() { for m in "${!PID[@]}"; do kill "${PID[$m]}" 2>/dev/null || true; done; }
trap cleanup EXIT

for mode in stampede outputcache; do
  ASPNETCORE_URLS="$(base $mode)" dotnet "$DLL" --mode "$mode" >/dev/null 2>&1 &
  PID[$mode]=$!
done
for mode in stampede outputcache; do
  for _ in $(seq 1 100); do curl -s "$(base $mode)/stats" >/dev/null 2>&1 && break; sleep 0.1; done
  rps $mode 32 3 /cached >/dev/null   # warm-up: JIT, first fill
done

# 1. Throughput of a cached 2 KiB response, alternating rounds.
for round in $(seq 1 "$ROUNDS"); do
  for mode in stampede outputcache; do
    RESULT[$mode,rps,$round]=$(rps $mode 64 "$DURATION" /cached)
  done
done
for mode in stampede outputcache; do
  RESULT[$mode,rpsall]=$(for r in $(seq 1 "$ROUNDS"); do echo "${RESULT[$mode,rps,$r]}"; done | tr '\n' ' ')
  RESULT[$mode,rps]=$(for r in $(seq 1 "$ROUNDS"); do echo "${RESULT[$mode,rps,$r]}"; done | median)
done

for mode in stampede outputcache; do
  # 2. Cold-start burst: 200 connections hit a new 200 ms URL at once, for 3 s.
  stats $mode "?reset=1" >/dev/null
  wrk -t2 -c200 -d3s "$(base $mode)/cold/$mode-$RANDOM" >/dev/null
  RESULT[$mode,cold]=$(stats $mode "")

  # 3. Time to first byte of 50 concurrent clients on a cold URL whose body streams for about 1 s.
  dotnet "$DLL" ttfb --url "$(base $mode)/slow/warm-$mode" --clients 50 >/dev/null   # warm the miss path
  stats $mode "?reset=1" >/dev/null
  RESULT[$mode,ttfb]=$(dotnet "$DLL" ttfb --url "$(base $mode)/slow/$mode-$RANDOM" --clients 50)
  RESULT[$mode,slowexec]=$(stats $mode "")

  # 4. An uncacheable 100 ms URL under 50 connections: waves must not be serialised.
  stats $mode "?reset=1" >/dev/null
  RESULT[$mode,unc]=$(latency $mode 50 5 "/uncacheable/$mode")
  RESULT[$mode,uncexec]=$(stats $mode "")
done

ratio=$(awk -v a="${RESULT[stampede,rps]}" -v b="${RESULT[outputcache,rps]}" 'BEGIN { printf "%.2f", a / b }')
echo "| Scenario | StampedeGuard | OutputCache |"
echo "| --- | --- | --- |"
echo "| Cached 2 KiB response, 64 connections: requests/s, median of $ROUNDS alternating ${DURATION} s rounds | **${RESULT[stampede,rps]}** (${ratio}x) | ${RESULT[outputcache,rps]} |"
echo "| (all rounds) | ${RESULT[stampede,rpsall]} | ${RESULT[outputcache,rpsall]} |"
echo "| Cold-start burst, 200 connections on a new 200 ms URL for 3 s: origin executions | ${RESULT[stampede,cold]} | ${RESULT[outputcache,cold]} |"
echo "| Slowly streamed body (1 KiB, then 10 x 1 KiB every 100 ms), 50 concurrent cold clients: time to first byte / to last byte | ${RESULT[stampede,ttfb]} | ${RESULT[outputcache,ttfb]} |"
echo "| Same: origin executions | ${RESULT[stampede,slowexec]} | ${RESULT[outputcache,slowexec]} |"
echo "| Uncacheable 100 ms URL (Set-Cookie), 50 connections, 5 s | ${RESULT[stampede,unc]} | ${RESULT[outputcache,unc]} |"
echo "| Same: origin executions | ${RESULT[stampede,uncexec]} | ${RESULT[outputcache,uncexec]} |"
