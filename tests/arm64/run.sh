#!/usr/bin/env bash
# The linux-arm64 agent under emulation: publishes it with packaging/install.sh --runtime linux-arm64
# (cross-compiled NativeAOT, or its ReadyToRun fallback) and runs the client, TLS, raw gRPC and
# PostgreSQL end-to-end tests against it under Debian's qemu-aarch64-static (user-mode emulation:
# no binfmt needed). Not part of test.sh: the cross publish and the emulated tests take ~8-15 min.
#
# usage (repository root, as root, after `dotnet build -c Release`):
#   bash tests/arm64/run.sh [--from DIR]     DIR: an arm64 agent published earlier (skips the publish)
# PostgreSQL tests run when ROUTERHOSTS_TEST_POSTGRES_URL is set (tests/postgres/throwaway.sh start).
# Cached under ${ROUTERHOSTS_TEST_CACHE:-$HOME/.cache/routerhosts-test}/arm64: the arm64 libc (from
# libc6-arm64-cross) with libssl3 and zlib1g from Debian's arm64 packages, unpacked, not installed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${ROUTERHOSTS_TEST_CACHE:-$HOME/.cache/routerhosts-test}/arm64
from=
[ "${1:-}" = --from ] && from=${2:?--from needs a directory}
say() { echo "arm64-test: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "needs root (apt-get)"; exit 1; }
missing=
for p in qemu-user-static libc6-arm64-cross; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    say "installing$missing"
    # shellcheck disable=SC2086
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >&2
fi

# The arm64 root qemu reads libraries from (-L): the cross libc, and libssl3 + zlib1g downloaded with a
# private arm64 package list (the machine's apt configuration is not changed).
sysroot=$cache/root
if [ ! -e "$sysroot/usr/lib/aarch64-linux-gnu/libssl.so.3" ]; then
    rm -rf "$cache"; mkdir -p "$cache/lists/partial" "$cache/apt/archives/partial" "$cache/debs" "$sysroot/lib"
    apt=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache/apt")
    apt-get "${apt[@]}" update -qq >&2
    (cd "$cache/debs" && apt-get "${apt[@]}" download libssl3:arm64 zlib1g:arm64 >&2)
    for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
    cp -a /usr/aarch64-linux-gnu/lib/. "$sysroot/lib/"
fi

if [ -z "$from" ]; then
    stage=$cache/stage
    rm -rf "$stage"
    say "publishing with packaging/install.sh --runtime linux-arm64 (a few minutes)"
    "$repo/packaging/install.sh" --runtime linux-arm64 --destdir "$stage" >&2
    from=$stage/usr/lib/router-hosts
fi
[ -e "$from/libcoreclr.so" ] && kind=ReadyToRun || kind=NativeAOT
say "testing $from ($kind) under $(qemu-aarch64-static --version | head -1)"

wrapper=$cache/routerhosts-agent
cat >"$wrapper" <<WRAP
#!/bin/sh
export QEMU_SET_ENV=LD_LIBRARY_PATH=$sysroot/usr/lib/aarch64-linux-gnu
exec qemu-aarch64-static -L $sysroot $from/routerhosts-agent "\$@"
WRAP
chmod +x "$wrapper"
"$wrapper" --version

ROUTERHOSTS_TEST_AGENT_BINARY=$wrapper dotnet test "$repo/tests/RouterHosts.EndToEnd.Tests" -c Release --no-build --nologo \
    --filter 'FullyQualifiedName~ClientHostsTests|FullyQualifiedName~ClientTlsTests|FullyQualifiedName~RawGrpcTests|FullyQualifiedName~SharedPostgresTests'
