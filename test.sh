#!/usr/bin/env bash
# The whole test suite, on a Debian 12 machine that has only the .NET 10 SDK:
#   1. installs what the tests use: Debian packages (the python grpcio peer, protoc and
#      the well-known .proto files, systemd-analyze), pwsh 7.6.9 as a .NET tool and
#      Pester 5.9.1 from its NuGet package, into a cache a second run reuses;
#   2. starts a throwaway PostgreSQL (stopped at exit), then in that pwsh runs
#      ./build.ps1: build, assemble the module, the xunit suites (dotnet test), then the
#      Pester suite against a real agent;
#   3. boots the agent's unit under a real systemd in a systemd-nspawn container
#      (tests/systemd/run.sh; needs root, as CI is), with the agent packaging/install.sh publishes
#      (NativeAOT: clang, lld and zlib1g-dev are installed below for it), then runs the agent tests
#      and the end-to-end client, TLS, raw gRPC and PostgreSQL tests against that published binary;
#   4. checks the contract against shared/'s reference when shared/ sits beside the clone;
#   5. ends with one line "N passed, N failed" counting every suite.
# It exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")"

cache="${ROUTERHOSTS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/routerhosts-test}"
pwsh_version=7.6.9
pester_version=5.9.1
# systemd-container and debootstrap boot the real-systemd tests (tests/systemd/run.sh); unbound, dnsmasq-base and
# dnsutils (dig) answer from the DNS outputs; pebble (a test ACME CA) and lego issue the ACME test certificate;
# clang, lld and zlib1g-dev link the NativeAOT agent that packaging/install.sh builds.
packages=(python3 python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc libprotobuf-dev systemd
  systemd-container debootstrap curl postgresql-15 unbound dnsmasq-base dnsutils pebble lego clang lld zlib1g-dev)

fail_setup() { echo "test.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# 1. Prerequisites ------------------------------------------------------------------
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >/dev/null \
    || fail_setup "could not install ${packages[*]}"
fi

pwsh="$cache/pwsh-$pwsh_version/pwsh"
if [ ! -x "$pwsh" ]; then
  dotnet tool install PowerShell --version "$pwsh_version" --tool-path "$cache/pwsh-$pwsh_version" >/dev/null \
    || fail_setup "could not install the PowerShell $pwsh_version .NET tool"
fi

# Pester's NuGet package holds the module in tools/; a folder on PSModulePath makes it importable.
modules="$cache/modules"
if [ ! -f "$modules/Pester/$pester_version/Pester.psd1" ]; then
  download="$cache/pester-download"
  mkdir -p "$download"
  cat >"$download/pester.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$pester_version]" /></ItemGroup>
</Project>
EOF
  dotnet restore "$download/pester.csproj" --packages "$download/packages" >/dev/null \
    || fail_setup "could not restore the Pester $pester_version NuGet package"
  rm -rf "$modules/Pester/$pester_version"
  mkdir -p "$modules/Pester"
  cp -r "$download/packages/pester/$pester_version/tools" "$modules/Pester/$pester_version"
fi
export PSModulePath="$modules${PSModulePath:+:$PSModulePath}"

# A throwaway PostgreSQL (Debian's postgresql 15, initdb in a temporary directory, a Unix
# socket only) for the PostgreSQL store's compliance suite and the several-agents tests.
export ROUTERHOSTS_TEST_POSTGRES_STATE
ROUTERHOSTS_TEST_POSTGRES_STATE=$(mktemp -u /tmp/routerhosts-pg-state.XXXXXX)
pg_line=$(tests/postgres/throwaway.sh start) || fail_setup "could not start a throwaway PostgreSQL"
export "${pg_line?}"   # ROUTERHOSTS_TEST_POSTGRES_URL=...

# 2. Build, xunit, Pester -------------------------------------------------------------
xunit_log=$(mktemp) pester_log=$(mktemp) systemd_log=$(mktemp) aot_log=$(mktemp)
trap 'tests/postgres/throwaway.sh stop; rm -f "$xunit_log" "$pester_log" "$systemd_log" "$aot_log"' EXIT
"$pwsh" -NoProfile -NonInteractive -Command '& ./build.ps1 -Task Build, Assemble, Test' 2>&1 | tee "$xunit_log"
xunit_status=${PIPESTATUS[0]}
"$pwsh" -NoProfile -NonInteractive -Command '& ./build.ps1 -Task Pester' 2>&1 | tee "$pester_log"
pester_status=${PIPESTATUS[0]}

# 3. The unit under a real systemd -------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  bash tests/systemd/run.sh 2>&1 | tee "$systemd_log"
  systemd_status=${PIPESTATUS[0]}
else
  echo "test.sh: the real-systemd tests need root (systemd-nspawn); not run" | tee "$systemd_log"
  systemd_status=1
fi

# 3b. The installed build (NativeAOT) under the agent and end-to-end tests ---------------
# The binary the systemd suite published with packaging/install.sh; the tests start it instead
# of the build beside them (AgentProcess, ROUTERHOSTS_TEST_AGENT_BINARY).
aot_dir=$(sed -n 's/^systemd-test: the published agent: \(.*\) (NativeAOT)$/\1/p' "$systemd_log" | tail -n 1)
aot_status=0
if [ -n "$aot_dir" ]; then
  { ROUTERHOSTS_TEST_AGENT_BINARY="$aot_dir/routerhosts-agent" dotnet test tests/RouterHosts.Agent.Tests -c Release --no-build --nologo
    echo "aot-exit $?"
    ROUTERHOSTS_TEST_AGENT_BINARY="$aot_dir/routerhosts-agent" dotnet test tests/RouterHosts.EndToEnd.Tests -c Release --no-build --nologo \
      --filter 'FullyQualifiedName~ClientHostsTests|FullyQualifiedName~ClientTlsTests|FullyQualifiedName~RawGrpcTests|FullyQualifiedName~SharedPostgresTests'
    echo "aot-exit $?"; } 2>&1 | tee "$aot_log"
  [ "$(grep -cx 'aot-exit 0' "$aot_log")" -eq 2 ] || aot_status=1   # both dotnet test runs passed
else
  echo "test.sh: skipped the tests against the NativeAOT build: the systemd suite published none ($(grep -m1 -E '^(skip|not ok) - installed build is NativeAOT' "$systemd_log" || echo 'it did not get that far'))" | tee "$aot_log"
fi

# 4. The contract against the shared reference ----------------------------------------
contract_passed=0 contract_failed=0
if [ -f ../shared/tools/wire_compat.py ]; then
  if /usr/bin/python3 ../shared/tools/wire_compat.py proto router_hosts/v1/hosts.proto | tail -n 1; then contract_passed=1; else contract_failed=1; fi
fi

# 5. One summary line ------------------------------------------------------------------
# dotnet test prints "Passed!  - Failed: 0, Passed: 226, ..." per test assembly; build.ps1's
# Pester step prints "pester-summary: N passed, N failed".
count() { grep -Eo "$1" "$2" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
xunit_passed=$(count 'Passed: +[0-9]+' "$xunit_log")
xunit_failed=$(count 'Failed: +[0-9]+' "$xunit_log")
pester_passed=$(count 'pester-summary: [0-9]+' "$pester_log")
pester_failed=$(count '[0-9]+ failed$' <(grep -E '^pester-summary: ' "$pester_log"))
systemd_passed=$(count 'systemd-summary: [0-9]+' "$systemd_log")
systemd_failed=$(count '[0-9]+ failed$' <(grep -E '^systemd-summary: ' "$systemd_log"))
aot_passed=$(count 'Passed: +[0-9]+' "$aot_log")
aot_failed=$(count 'Failed: +[0-9]+' "$aot_log")
# A step that failed without counting a failed test (a build error, a crash) counts as one.
[ "$systemd_status" -ne 0 ] && [ "$systemd_failed" -eq 0 ] && systemd_failed=1
[ "$xunit_status" -ne 0 ] && [ "$xunit_failed" -eq 0 ] && xunit_failed=1
[ "$pester_status" -ne 0 ] && [ "$pester_failed" -eq 0 ] && pester_failed=1
[ "$aot_status" -ne 0 ] && [ "$aot_failed" -eq 0 ] && aot_failed=1

# Name every failed test next to the summary, so a failure is readable from the end of the log.
failures=$( { awk '/^  Failed [A-Za-z]/ {n = 4} n > 0 {print; n--}' "$xunit_log" "$aot_log"
              sed -E 's/\x1b\[[0-9;]*m//g' "$pester_log" | grep -E '^\s*\[-\] '
              grep -E '^not ok' "$systemd_log"; } || true)
if [ -n "$failures" ]; then
  echo "failed tests:"
  printf '%s\n' "$failures" | cut -c1-400
fi
echo "xunit: $xunit_passed passed, $xunit_failed failed; pester (pwsh $pwsh_version): $pester_passed passed, $pester_failed failed;" \
  "systemd: $systemd_passed passed, $systemd_failed failed; NativeAOT build: $aot_passed passed, $aot_failed failed;" \
  "contract: $contract_passed passed, $contract_failed failed"
passed=$((xunit_passed + pester_passed + systemd_passed + aot_passed + contract_passed))
failed=$((xunit_failed + pester_failed + systemd_failed + aot_failed + contract_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
