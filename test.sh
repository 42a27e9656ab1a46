#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages: the python
# grpcio peer, protoc, systemd-analyze), assembles the module, runs
# `dotnet test RouterHosts.sln`, and ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")"

packages=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc systemd)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >/dev/null \
    || { echo "could not install ${packages[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi

# Without pwsh the module is still assembled, so the metadata tests read the shipped layout.
if [ -x module/assemble.sh ]; then
  module/assemble.sh >/tmp/routerhosts-assemble.log 2>&1 \
    || { cat /tmp/routerhosts-assemble.log; echo "0 passed, 1 failed"; exit 1; }
fi

log=$(mktemp)
dotnet test RouterHosts.sln --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build failure runs no test
rm -f "$log"
echo "$passed passed, $failed failed"
exit "$status"
