#!/bin/sh
# Installs the RouterHosts agent:
#   /usr/lib/router-hosts/            the agent (self-contained linux-x64: no .NET needed on the router)
#   /usr/sbin/routerhosts-agent       a link to it
#   /etc/router-hosts/agent.json      the configuration (from agent.json.sample; never overwritten)
#   /var/lib/router-hosts/            the database (the service's StateDirectory)
#   /etc/hosts.d/                     where the default hosts file goes (dnsmasq's hostsdir)
#   /lib/systemd/system/router-hosts-agent.service, /usr/lib/sysusers.d, /usr/lib/tmpfiles.d
#   /usr/share/doc/router-hosts/      README.md, agent.json.md, agent.json.sample
#
# usage: packaging/install.sh [--destdir DIR] [--from DIR] [--no-ready-to-run | --aot] [--runtime RID]
#   --destdir DIR       stage into DIR (also DESTDIR=DIR): nothing outside DIR is touched, no user is
#                       created, no ownership is changed, systemd is not told
#   --from DIR          install an already published agent from DIR instead of running dotnet publish
#   --no-ready-to-run   publish without ReadyToRun (by default -p:PublishReadyToRun=true: ~10-15% faster start, +3 MiB)
#   --aot               publish with NativeAOT (-p:PublishAot=true): ~2.3x faster start, half the memory,
#                       19 MiB instead of ~110; needs clang and the ILCompiler package where it is built
#   --runtime RID       publish for RID (default linux-x64)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
destdir=${DESTDIR:-}
from=
rid=linux-x64
r2r=true
aot=false

while [ $# -gt 0 ]; do
    case "$1" in
        --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
        --destdir=*) destdir=${1#*=}; shift ;;
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --from=*) from=${1#*=}; shift ;;
        --runtime) rid=${2:?--runtime needs a RID}; shift 2 ;;
        --ready-to-run) r2r=true; shift ;;
        --no-ready-to-run) r2r=false; shift ;;
        --aot) aot=true; r2r=false; shift ;;
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

# ---- the agent ----
work=
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM
if [ -z "$from" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/router-hosts-publish.XXXXXX")
    echo "publishing the agent ($rid, self-contained, ReadyToRun=$r2r, NativeAOT=$aot)..."
    dotnet publish "$root/src/RouterHosts.Agent" -c Release -r "$rid" --self-contained \
        -p:PublishReadyToRun="$r2r" -p:PublishAot="$aot" -p:DebugType=none -o "$work/publish" >"$work/publish.log" 2>&1 \
        || { cat "$work/publish.log" >&2; echo "install.sh: dotnet publish failed" >&2; exit 1; }
    from="$work/publish"
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
