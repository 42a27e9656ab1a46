#!/bin/sh
# Installs the RouterHosts agent:
#   /usr/lib/router-hosts/            the agent (NativeAOT, or self-contained ReadyToRun: no .NET needed on the router)
#   /usr/sbin/routerhosts-agent       a link to it
#   /etc/router-hosts/agent.json      the configuration (from agent.json.sample; never overwritten)
#   /var/lib/router-hosts/            the database (the service's StateDirectory)
#   /etc/hosts.d/                     where the default hosts file goes (dnsmasq's hostsdir)
#   /lib/systemd/system/router-hosts-agent.service, /usr/lib/sysusers.d, /usr/lib/tmpfiles.d
#   /usr/share/doc/router-hosts/      README.md, agent.json.md, agent.json.sample
#
# usage: packaging/install.sh [--destdir DIR] [--from DIR] [--aot | --no-aot [--no-ready-to-run]] [--runtime RID]
#   --destdir DIR       stage into DIR (also DESTDIR=DIR): nothing outside DIR is touched, no user is
#                       created, no ownership is changed, systemd is not told
#   --from DIR          install an already published agent from DIR instead of running dotnet publish
#   (default)           NativeAOT (-p:PublishAot=true): ~2x faster start, half the memory, ~20 MiB.
#                       It needs clang (and lld, zlib1g-dev), installed here with apt-get when missing
#                       and root, and the ILCompiler package, which the publish restores from NuGet.
#                       When it cannot be built, the script says why and falls back to self-contained
#                       ReadyToRun. linux-arm64 (--runtime linux-arm64) is cross-compiled on x86_64 with
#                       Debian's arm64 sysroot (libc6-dev-arm64-cross, libgcc-12-dev-arm64-cross) and
#                       llvm-objcopy (llvm), installed the same way
#   --aot               NativeAOT or fail: no fallback
#   --no-aot            self-contained ReadyToRun, without trying NativeAOT
#   --no-ready-to-run   with --no-aot: plain self-contained, without ReadyToRun (~10-15% slower start, -3 MiB)
#   --runtime RID       publish for RID (default linux-x64; linux-arm64 for ARM routers)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
destdir=${DESTDIR:-}
from=
rid=linux-x64
r2r=true
aot=auto

while [ $# -gt 0 ]; do
    case "$1" in
        --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
        --destdir=*) destdir=${1#*=}; shift ;;
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --from=*) from=${1#*=}; shift ;;
        --runtime) rid=${2:?--runtime needs a RID}; shift 2 ;;
        --ready-to-run) r2r=true; shift ;;
        --no-ready-to-run) r2r=false; shift ;;
        --aot) aot=true; shift ;;
        --no-aot) aot=false; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -n "$destdir" ]; then
    mkdir -p "$destdir"
    destdir=$(cd "$destdir" && pwd)
    [ "$destdir" != / ] || destdir=
fi
staging=${destdir:+yes}

if [ -z "$staging" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: installing into / needs root (or stage with --destdir DIR)" >&2
    exit 1
fi

# ---- the NativeAOT toolchain ----
# The apt packages the native link needs on this (the build) machine, for $rid.
aot_packages() {
    case "$rid" in
        linux-x64) echo clang lld zlib1g-dev ;;
        linux-arm64) echo clang lld llvm zlib1g-dev libc6-dev-arm64-cross libgcc-12-dev-arm64-cross ;;
    esac
}
# Prints why NativeAOT cannot be built here (nothing when it can), installing the missing Debian
# packages with apt-get first when this is root on a Debian machine.
aot_toolchain() {
    host=$(uname -m)
    case "$rid" in
        linux-x64) [ "$host" = x86_64 ] || { echo "NativeAOT for linux-x64 is built here only on x86_64"; return 0; } ;;
        linux-arm64) [ "$host" = x86_64 ] || [ "$host" = aarch64 ] || { echo "no NativeAOT cross-compiler for $host"; return 0; } ;;
        *) echo "NativeAOT is set up here for linux-x64 and linux-arm64 only, not $rid"; return 0 ;;
    esac
    if [ "$rid" = linux-arm64 ] && [ "$host" = aarch64 ]; then packages="clang lld zlib1g-dev"; else packages=$(aot_packages); fi
    missing=
    if command -v dpkg >/dev/null 2>&1; then
        for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    else
        command -v clang >/dev/null 2>&1 || missing=" clang"
    fi
    missing=${missing# }
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$missing missing (apt-get install $missing as root, or run this as root on Debian)"
        return 0
    fi
    echo "installing $missing for the NativeAOT build (apt-get)..." >&2
    # shellcheck disable=SC2086 # one word per package
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >/dev/null 2>&1 \
        || echo "apt-get install $missing failed"
}
# Extra publish flags for a cross-compiled NativeAOT build. No SysRoot: clang --target=aarch64-linux-gnu
# finds Debian's cross libraries itself, and with --sysroot lld would misread libc.so's absolute paths.
aot_cross_flags() {
    if [ "$rid" = linux-arm64 ] && [ "$(uname -m)" = x86_64 ]; then
        echo -p:LinkerFlavor=lld -p:ObjCopyName=llvm-objcopy
    fi
}

# ---- the agent ----
work=
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM
if [ -z "$from" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/router-hosts-publish.XXXXXX")
    # publish NAME FLAGS...: dotnet publish into $work/NAME, its output in $work/NAME.log.
    publish() {
        name=$1; shift
        dotnet publish "$root/src/RouterHosts.Agent" -c Release -r "$rid" --self-contained \
            -p:DebugType=none "$@" -o "$work/$name" >"$work/$name.log" 2>&1
    }
    why_not_aot=
    [ "$aot" = false ] || why_not_aot=$(aot_toolchain)
    if [ "$aot" != false ] && [ -z "$why_not_aot" ]; then
        echo "publishing the agent ($rid, NativeAOT; this takes a few minutes)..."
        if publish aot -p:PublishAot=true $(aot_cross_flags); then
            from="$work/aot"
        else
            failed_log=${TMPDIR:-/tmp}/router-hosts-aot-publish.log
            cp "$work/aot.log" "$failed_log"
            why_not_aot="dotnet publish -p:PublishAot=true failed: $(grep -m1 -E ' error ' "$work/aot.log" | sed 's/^ *//' | cut -c1-300) (the whole log: $failed_log)"
        fi
    fi
    if [ -z "$from" ]; then
        if [ "$aot" = true ]; then
            echo "install.sh: NativeAOT was asked for (--aot) and cannot be built: $why_not_aot" >&2
            exit 1
        fi
        [ "$aot" = false ] || echo "install.sh: NativeAOT cannot be built ($why_not_aot); falling back to self-contained ReadyToRun=$r2r (about twice the memory and start time)" >&2
        echo "publishing the agent ($rid, self-contained, ReadyToRun=$r2r)..."
        publish r2r -p:PublishReadyToRun="$r2r" \
            || { cat "$work/r2r.log" >&2; echo "install.sh: dotnet publish failed" >&2; exit 1; }
        from="$work/r2r"
    fi
fi
[ -x "$from/routerhosts-agent" ] || { echo "install.sh: $from/routerhosts-agent is not an executable agent" >&2; exit 1; }

lib="$destdir/usr/lib/router-hosts"
# Replace the whole directory so no file of an older version stays behind.
rm -rf "$lib.new"
mkdir -p "$lib.new"
cp -R "$from/." "$lib.new/"
find "$lib.new" -type d -exec chmod 0755 {} +
find "$lib.new" -type f -exec chmod 0644 {} +
chmod 0755 "$lib.new/routerhosts-agent"
[ -f "$lib.new/createdump" ] && chmod 0755 "$lib.new/createdump"
rm -rf "$lib"
mv "$lib.new" "$lib"

install -d -m 0755 "$destdir/usr/sbin"
ln -sfn ../lib/router-hosts/routerhosts-agent "$destdir/usr/sbin/routerhosts-agent"

# ---- systemd, users, directories ----
install -d -m 0755 "$destdir/lib/systemd/system" "$destdir/usr/lib/sysusers.d" "$destdir/usr/lib/tmpfiles.d"
install -m 0644 "$here/router-hosts-agent.service" "$destdir/lib/systemd/system/router-hosts-agent.service"
cat >"$destdir/usr/lib/sysusers.d/router-hosts.conf" <<'EOF'
# The RouterHosts agent's user and group (systemd-sysusers).
u router-hosts - "RouterHosts agent" /var/lib/router-hosts /usr/sbin/nologin
EOF
chmod 0644 "$destdir/usr/lib/sysusers.d/router-hosts.conf"
cat >"$destdir/usr/lib/tmpfiles.d/router-hosts.conf" <<'EOF'
# Directories of the RouterHosts agent (systemd-tmpfiles).
d /var/lib/router-hosts 0750 router-hosts router-hosts -
d /etc/hosts.d          0775 root         router-hosts -
EOF
chmod 0644 "$destdir/usr/lib/tmpfiles.d/router-hosts.conf"

install -d -m 0750 "$destdir/etc/router-hosts" "$destdir/var/lib/router-hosts"
install -d -m 0775 "$destdir/etc/hosts.d"
config="$destdir/etc/router-hosts/agent.json"
if [ -e "$config" ]; then
    echo "kept the existing $config"
else
    install -m 0640 "$here/agent.json.sample" "$config"
fi

doc="$destdir/usr/share/doc/router-hosts"
install -d -m 0755 "$doc"
install -m 0644 "$here/README.md" "$here/agent.json.md" "$here/agent.json.sample" "$doc/"

if [ -n "$staging" ]; then
    echo "staged into $destdir (no user created, ownership unchanged, systemd not told)"
    exit 0
fi

# ---- the live system ----
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/router-hosts.conf
elif ! getent passwd router-hosts >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/router-hosts --shell /usr/sbin/nologin router-hosts
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/router-hosts.conf
else
    chown router-hosts:router-hosts /var/lib/router-hosts
    chgrp router-hosts /etc/hosts.d
fi
chgrp router-hosts /etc/router-hosts "$config"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
cat <<EOF
installed. Next:
  routerhosts-agent pki init --dir /etc/router-hosts/pki --server-name \$(hostname -f) --ip ROUTER_IP --key-group router-hosts
  edit /etc/router-hosts/agent.json (see /usr/share/doc/router-hosts/agent.json.md), then:
  routerhosts-agent --check-config && systemctl enable --now router-hosts-agent
  routerhosts-agent pki issue-client --dir /etc/router-hosts/pki --name alice --role writer --endpoint ROUTER_IP:50051
EOF
