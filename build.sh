#!/usr/bin/env bash
# ./build.sh test   - install what the tests need when missing (redis-server; clang, lld and zlib1g-dev for the Native
#                     AOT publish; garnet-server as a .NET tool), run every test project (the Redis suite three
#                     times: StackExchange.Redis 2.x and 3.x against redis-server, then 2.x against Garnet), print
#                     the skipped count, and end with one line: "N passed, M failed".
# ./build.sh build  - build the solution in Release.
# ./build.sh pack   - produce NuGet packages (with symbol packages) and the accelerator tool under artifacts/packages.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Installs Debian packages with apt-get (through sudo when not root), after apt-get update; the callers check the result.
apt_install() {
  local sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || true
  fi
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then return 0; fi
  echo "redis-server not found: installing it with apt-get"
  apt_install redis-server
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server could not be installed; Redis tests will fail (CI=true) or skip." >&2
  fi
}

# Native AOT (tests/StampedeGuard.Aot.Tests publishes a PublishAot=true app): Microsoft's documented Linux prerequisites.
ensure_native_toolchain() {
  if command -v clang >/dev/null 2>&1 && command -v ld.lld >/dev/null 2>&1 && [ -e /usr/include/zlib.h ]; then return 0; fi
  echo "clang, lld or zlib1g-dev not found: installing them with apt-get"
  apt_install clang lld zlib1g-dev
  if ! command -v clang >/dev/null 2>&1; then
    echo "clang could not be installed; the Native AOT tests will fail (CI=true) or skip." >&2
  fi
}

# Garnet (Microsoft's Redis-compatible server, a .NET tool on NuGet): installed under artifacts/tools, nowhere else.
garnet_version="2.2.12"
garnet_dir="artifacts/tools/garnet-server-$garnet_version"
ensure_garnet() {
  if [ -x "$garnet_dir/garnet-server" ]; then return 0; fi
  echo "garnet-server $garnet_version not found: installing it with dotnet tool install"
  dotnet tool install garnet-server --version "$garnet_version" --tool-path "$garnet_dir" >/dev/null || true
  if [ ! -x "$garnet_dir/garnet-server" ]; then
    echo "garnet-server could not be installed; the Garnet pass will fail." >&2
  fi
}

cmd="${1:-test}"
case "$cmd" in
  build)
    dotnet build StampedeGuard.sln -c Release
    ;;
  pack)
    # Libraries: .nupkg + .snupkg (symbols), SourceLink, own README; the accelerator: a .NET tool package.
    rm -rf artifacts/packages
    dotnet pack StampedeGuard.sln -c Release -o artifacts/packages -p:ContinuousIntegrationBuild=true
    ls -1 artifacts/packages
    ;;
  test)
    ensure_redis
    ensure_native_toolchain
    ensure_garnet
    dotnet build StampedeGuard.sln -c Release
    results="artifacts/test-results"
    rm -rf "$results"; mkdir -p "$results"
    status=0
    for proj in $(dotnet sln StampedeGuard.sln list | grep -E '\.Tests\.csproj$' | sort); do
      name=$(basename "$proj" .csproj)
      echo "=== $name"
      dotnet test "$proj" -c Release --no-build --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
    done
    # The Redis suite again on the newest StackExchange.Redis 3.x the mirror serves: the library stays built against
    # its 2.x baseline, the tests and worker load 3.x (tests/StampedeGuard.TestSupport/Redis/RedisClientVersion.props).
    # Its own build output (--artifacts-path) and trx name, so both runs count in the total below.
    redis3="3.4.35"
    echo "=== StampedeGuard.Redis.Tests on StackExchange.Redis $redis3"
    dotnet test tests/StampedeGuard.Redis.Tests/StampedeGuard.Redis.Tests.csproj -c Release \
      -p:StackExchangeRedisVersion="$redis3" --artifacts-path "artifacts/redis-client-$redis3" \
      --logger "trx;LogFileName=StampedeGuard.Redis.Tests.client-$redis3.trx" --results-directory "$results" || status=1
    # And again against Garnet (garnet-server --lua --lua-transaction-mode, started by the tests as they start
    # redis-server), on the build of the first pass. The whole suite (about 3.5 min): its history scenarios are what
    # checks the consistency model on Garnet. Tests that need what Garnet lacks are skipped, the gap named (GarnetGaps).
    echo "=== StampedeGuard.Redis.Tests on Garnet $garnet_version"
    STAMPEDEGUARD_REDIS_SERVER=garnet STAMPEDEGUARD_GARNET_SERVER="$PWD/$garnet_dir/garnet-server" \
      dotnet test tests/StampedeGuard.Redis.Tests/StampedeGuard.Redis.Tests.csproj -c Release --no-build \
      --logger "trx;LogFileName=StampedeGuard.Redis.Tests.garnet-$garnet_version.trx" --results-directory "$results" || status=1
    passed=0; failed=0; skipped=0
    for trx in "$results"/*.trx; do
      [ -f "$trx" ] || continue
      counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
      p=$(echo "$counters" | sed -n 's/.* passed="\([0-9]*\)".*/\1/p'); f=$(echo "$counters" | sed -n 's/.* failed="\([0-9]*\)".*/\1/p')
      t=$(echo "$counters" | sed -n 's/.* total="\([0-9]*\)".*/\1/p'); e=$(echo "$counters" | sed -n 's/.* executed="\([0-9]*\)".*/\1/p')
      passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0})) # vstest's trx: skipped = not executed
    done
    if [ "$status" != "0" ] && [ "$failed" = "0" ]; then failed=1; fi
    echo "($skipped skipped, each with its reason in the trx files under $results)"
    echo "$passed passed, $failed failed"
    exit $status
    ;;
  *)
    echo "usage: ./build.sh [test|build|pack]" >&2; exit 2 ;;
esac
