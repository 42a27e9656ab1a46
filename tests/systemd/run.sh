#!/usr/bin/env bash
# The packaged unit under a real systemd: boots a Debian 12 (bookworm) container with
# systemd-nspawn, installs the agent with packaging/install.sh as a user would, and checks
# start to READY, STATUS=, reload, the watchdog, a clean stop, a configuration error
# (exit 2, no restarts, shown by journalctl -p err), a configuration the service user
# cannot reach, and the hardening. One line per test ("ok - NAME" / "not ok - NAME: WHY"),
# then "systemd-summary: N passed, N failed"; exits non-zero if any failed.
#
# usage (from the repository root, as root):  bash tests/systemd/run.sh
#
# Needs root, systemd-nspawn (systemd-container) and debootstrap (installed with apt-get
# when missing), and Debian's mirror as configured in /etc/apt (or ROUTERHOSTS_TEST_DEBIAN_MIRROR).
# Cached under ${ROUTERHOSTS_TEST_CACHE:-$HOME/.cache/routerhosts-test}:
#   nspawn-bookworm-KEY   the rootfs (debootstrap minbase + a minimal router's packages), rebuilt
#                         only when missing or when its recipe (KEY) changes; never modified by a run
#   agent-publish-KEY     the agent as packaging/install.sh publishes it (NativeAOT linux-x64, or its
#                         ReadyToRun fallback), published again only when src/ changes
# Each run boots an overlay of the cached rootfs (its writes go to a throwaway upper directory);
# the container shares the host's network namespace and the agent listens on 127.0.0.1 only,
# on a free port. Everything is torn down on exit, also on failure or Ctrl-C
# (ROUTERHOSTS_TEST_KEEP=1 keeps the run's directory: console.log, the overlay's upper layer).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${ROUTERHOSTS_TEST_CACHE:-$HOME/.cache/routerhosts-test}
suite=bookworm
# A minimal router: systemd, D-Bus, ip, TLS libraries. Not procps (no /bin/kill, no pkill):
# the unit must work without it.
packages=systemd,systemd-sysv,dbus,iproute2,libssl3,ca-certificates
rootfs_recipe="1 $suite minbase $packages"
rootfs_key=$(printf '%s' "$rootfs_recipe" | sha256sum | cut -c1-12)
rootfs=$cache/nspawn-$suite-$rootfs_key
unit=router-hosts-agent
started=$SECONDS

say() { echo "systemd-test: $*" >&2; }
die() { say "$*"; echo "systemd-summary: 0 passed, 1 failed"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (systemd-nspawn, debootstrap, mount)"

# ---- prerequisites ----
missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 \
        || die "apt-get install ${missing[*]} failed"
fi
command -v dotnet >/dev/null || die "needs the .NET SDK (dotnet) to publish the agent"

# Debian's mirror as this machine's apt uses it (deb822 .sources or a one-line sources.list).
mirror() {
    if [ -n "${ROUTERHOSTS_TEST_DEBIAN_MIRROR:-}" ]; then echo "$ROUTERHOSTS_TEST_DEBIAN_MIRROR"; return; fi
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # The stanza whose Suites include "bookworm" itself (not bookworm-security, -updates only).
        awk -v suite="$suite" '
            /^[[:space:]]*$/ { if (uri != "" && found) { print uri; exit } uri = ""; found = 0; next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            END { if (uri != "" && found) print uri }' "$f" | head -n1
    done | head -n1 | grep . && return
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v suite="$suite" '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i + 1) == suite && $i ~ /^https?:/) { print $i; exit } }'
}

# ---- the rootfs (cached) ----
# One run at a time builds or replaces what is cached (released once the agent is installed).
mkdir -p "$cache"
exec 9>"$cache/.systemd-test.lock"
flock 9
if [ ! -d "$rootfs" ]; then
    url=$(mirror)
    [ -n "$url" ] || die "no Debian mirror for $suite in /etc/apt (set ROUTERHOSTS_TEST_DEBIAN_MIRROR)"
    say "building the $suite rootfs from $url into $rootfs (once; ~40 s on an idle machine)"
    rm -rf "$cache"/nspawn-$suite-* "$cache"/.building-* # older recipes, interrupted builds
    building=$cache/.building-$suite-$rootfs_key
    debootstrap --variant=minbase --include="$packages" "$suite" "$building" "$url" >"$cache/debootstrap.log" 2>&1 \
        || { rm -rf "$building"; tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
    # Not a full system: no getty on the console, no time sync, nothing waiting for a network.
    for u in console-getty.service getty@.service systemd-timesyncd.service systemd-networkd-wait-online.service; do
        ln -sf /dev/null "$building/etc/systemd/system/$u"
    done
    rm -f "$building/etc/hostname" # nspawn sets the machine name
    mv "$building" "$rootfs"
fi
[ ! -e "$rootfs/bin/kill" ] && [ ! -e "$rootfs/usr/bin/kill" ] || die "$rootfs has /bin/kill (procps): it must not"

# ---- the agent, published by install.sh as it publishes by default (cached by the sources it is built from) ----
publish_key=$(cd "$repo" && find src Directory.Build.props Directory.Packages.props packaging/install.sh -type f \
    -not -path '*/bin/*' -not -path '*/obj/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
staged=$cache/agent-publish-$publish_key
published=$staged/usr/lib/router-hosts
if [ ! -x "$published/routerhosts-agent" ]; then
    say "publishing the agent with packaging/install.sh (linux-x64, NativeAOT unless it falls back) into $staged"
    rm -rf "$cache"/agent-publish-*
    log=$cache/publish.log
    "$repo/packaging/install.sh" --destdir "$staged.new" >"$log" 2>&1 \
        || { rm -rf "$staged.new"; tail -30 "$log" >&2; die "packaging/install.sh (publish) failed (log: $log)"; }
    cp "$log" "$staged.new/publish.log"
    mv "$staged.new" "$staged"
fi
# install.sh builds NativeAOT by default and falls back to ReadyToRun (its log says why); a
# ReadyToRun build carries the runtime (libcoreclr.so), a NativeAOT one is a single native binary.
if [ -e "$published/libcoreclr.so" ]; then build_kind=ReadyToRun; else build_kind=NativeAOT; fi
say "the published agent: $published ($build_kind)"

# ---- this run: an overlay of the rootfs, torn down whatever happens ----
run=$(mktemp -d /tmp/routerhosts-systemd.XXXXXX)
machine=rh-systemd-$$-$RANDOM
root=$run/root
nspawn_pid=
teardown() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null # nspawn asks the container's systemd to power off
        for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    if mountpoint -q "$root"; then umount "$root" || umount -l "$root"; fi
    rmdir "/run/systemd/nspawn/propagate/$machine" 2>/dev/null
    [ "${ROUTERHOSTS_TEST_KEEP:-}" = 1 ] && { say "kept $run"; return; }
    rm -rf --one-file-system "$run"
}
trap teardown EXIT
trap 'exit 130' INT TERM
mkdir -p "$root" "$run/upper" "$run/work"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$root" \
    || die "cannot mount an overlay of $rootfs"

# Install as a user would, with the published agent (staged into the container's tree: it has no .NET).
packaging_log=$run/install.log
"$repo/packaging/install.sh" --destdir "$root" --from "$published" >"$packaging_log" 2>&1 \
    || { cat "$packaging_log" >&2; die "packaging/install.sh failed"; }
flock -u 9

# A free loopback port on the host (shared network namespace).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The configuration: TCP on loopback with mTLS, the packaged paths, and one on_success hook
# (it runs at each start, inside the service's sandbox) that records which directories it can write.
probe_dirs="/var/lib/router-hosts /etc/hosts.d /etc /etc/router-hosts /usr/lib/router-hosts /var/lib /srv/open /home/open /root"
cat >"$root/etc/router-hosts/agent.json" <<EOF
{
  "listen": ["127.0.0.1:$port"],
  "unix_socket": { "path": "/run/router-hosts/agent.sock", "mode": "0660", "group": "router-hosts" },
  "tls": {
    "certificate": "/etc/router-hosts/pki/server.crt",
    "key": "/etc/router-hosts/pki/server.key",
    "ca": "/etc/router-hosts/pki/ca.crt"
  },
  "database": "/var/lib/router-hosts/hosts.db",
  "hosts_file": { "path": "/etc/hosts.d/router-hosts", "mode": "file" },
  "hooks": {
    "on_success": [
      {
        "name": "write-probe",
        "command": "for d in $probe_dirs; do if touch \"\$d/.probe\" 2>/dev/null; then rm -f \"\$d/.probe\"; echo \"writable \$d\"; else echo \"refused \$d\"; fi; done > /var/lib/router-hosts/write-probe.new && mv /var/lib/router-hosts/write-probe.new /var/lib/router-hosts/write-probe",
        "timeout_seconds": 10
      }
    ]
  },
  "log_level": "Information"
}
EOF
# Directories anyone may write, outside the two the unit allows: only the sandbox stops the agent there.
install -d -m 1777 "$root/srv/open" "$root/home/open"

# ---- boot ----
say "booting $machine (rootfs $rootfs_key, agent $publish_key, port $port)"
systemd-nspawn --quiet --boot --register=no --keep-unit --machine="$machine" --directory="$root" \
    --console=read-only </dev/null >"$run/console.log" 2>&1 &
nspawn_pid=$!

# Runs a shell command inside the container, as root, with a clean environment.
leader=
inside() {
    nsenter --target "$leader" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= sh -c "$1"
}
# Waits (up to $2 seconds; generous, the machine may be loaded) until the shell condition $1 holds inside.
wait_for() {
    local deadline=$((SECONDS + $2))
    until inside "$1" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.3
    done
}
prop() { inside "systemctl show -P $1 $unit"; }

# The container's PID 1 (its systemd) is a child of nspawn (a subreaper); a helper child that
# sets up the namespaces comes and goes first, so wait for the one that runs systemd.
for _ in $(seq 300); do
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$run/console.log" >&2; die "systemd-nspawn exited"; }
    for pid in $(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && leader=$pid
    done
    [ -n "$leader" ] && break
    sleep 0.2
done
[ -n "$leader" ] || die "the container did not start"
wait_for 'state=$(systemctl is-system-running); [ "$state" = running ] || [ "$state" = degraded ]' 120 \
    || { inside 'systemctl --failed' >&2; die "the container's systemd did not finish booting"; }
say "booted in $((SECONDS - started)) s since the script started"

# Set up as the README says: the group may read the configuration and the server key.
inside 'chgrp router-hosts /etc/router-hosts /etc/router-hosts/agent.json &&
    routerhosts-agent pki init --dir /etc/router-hosts/pki --server-name router.test --ip 127.0.0.1 --key-group router-hosts >/dev/null &&
    routerhosts-agent pki issue-client --dir /etc/router-hosts/pki --name tester --role reader --endpoint 127.0.0.1:'"$port"' >/dev/null &&
    systemctl daemon-reload' || die "setting up the agent inside the container failed"
client=$root/etc/router-hosts/pki/clients/tester

# ---- tests ----
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }
journal() { inside "journalctl --no-pager -o cat -u $unit $*"; }
# The unit's journal after a mark (its line count then). Not --after-cursor: combined with
# matches, systemd 252's journalctl can skip entries that do match.
cursor() { journal | wc -l; }
since() { journal | tail -n "+$(($1 + 1))"; }

# Readiness over gRPC (TLS, the client certificate) from the host: a unary call by hand.
# The request is an empty message (5-byte gRPC frame); the answer must be grpc-status 0 and an uncompressed
# frame (any length: later fields such as hosts_file_drift follow) that starts with ready = true (field 1: 08 01).
readiness() {
    printf '\0\0\0\0\0' >"$run/readiness.req"
    curl -sS --http2 --max-time 20 --cacert "$client/ca.crt" --cert "$client/client.crt" --key "$client/client.key" \
        -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$run/readiness.req" \
        -D "$run/readiness.headers" -o "$run/readiness.body" \
        "https://127.0.0.1:$port/router_hosts.v1.HostsService/Readiness" 2>"$run/readiness.err" || return 1
    grep -qi '^grpc-status: *0' "$run/readiness.headers" && od -An -tx1 "$run/readiness.body" | tr -d ' \n' | grep -q '^00[0-9a-f]\{8\}0801'
}

# 0. the installed build is NativeAOT. install.sh installs clang with apt-get itself (this is root), so a
# fallback here means the AOT build broke: a failure, unless clang could not be installed at all.
if [ "$build_kind" = NativeAOT ]; then
    ok "installed build is NativeAOT ($(du -sm "$published" | cut -f1) MiB, no libcoreclr.so)"
elif command -v clang >/dev/null; then
    not_ok "installed build is NativeAOT" "install.sh fell back to ReadyToRun although clang is installed: $(grep -m1 'NativeAOT cannot be built' "$staged/publish.log" | cut -c1-400)"
else
    echo "skip - installed build is NativeAOT: clang could not be installed ($(grep -m1 'NativeAOT cannot be built' "$staged/publish.log" | cut -c1-300)); the ReadyToRun fallback is what the tests below run"
fi

# 1. start to READY: systemctl start returns once READY=1 arrived (Type=notify), and the agent answers.
if ! inside "systemctl start $unit" 2>"$run/start.err"; then
    not_ok "start to READY" "systemctl start failed: $(tr '\n' ' ' <"$run/start.err") $(journal -n 20 | tr '\n' '|')"
elif [ "$(prop ActiveState)" != active ]; then
    not_ok "start to READY" "ActiveState=$(prop ActiveState) after start"
elif ! readiness; then
    not_ok "start to READY" "Readiness over mTLS on 127.0.0.1:$port did not answer ready: $(cat "$run/readiness.err" "$run/readiness.headers" 2>/dev/null | tr '\r\n' '  ')"
else
    ok "start to READY (active; Readiness over mTLS answers ready)"
fi

# 2. STATUS=: the host count, the last change and the hosts file's state.
status=$(prop StatusText)
if [[ $status =~ ^serving\ [0-9]+\ hosts?\;\ last\ change\ \#[0-9]+\;\ hosts\ file\ current ]]; then
    ok "STATUS= line ($status)"
else
    not_ok "STATUS= line" "StatusText='$status'"
fi

# 3. hardening: the hook (the agent's child, in the service's sandbox) may write only the data and hosts directories.
if ! wait_for 'test -f /var/lib/router-hosts/write-probe' 60; then
    not_ok "hardening" "the write-probe hook left no result: $(journal -n 20 | tr '\n' '|')"
else
    expected=$(for d in $probe_dirs; do case $d in /var/lib/router-hosts | /etc/hosts.d) echo "writable $d" ;; *) echo "refused $d" ;; esac; done)
    actual=$(cat "$root/var/lib/router-hosts/write-probe")
    settings=$(for p in User ProtectSystem ProtectHome PrivateTmp NoNewPrivileges; do printf '%s=%s ' "$p" "$(prop $p)"; done)
    if [ "$actual" = "$expected" ]; then
        ok "hardening (only /var/lib/router-hosts and /etc/hosts.d writable; $settings)"
    else
        not_ok "hardening" "expected [$(echo $expected)], the hook found [$(echo $actual)] ($settings)"
    fi
fi

# 4. reload: systemctl reload on a system without procps; the agent logs that it reloaded.
mark=$(cursor)
if ! inside "systemctl reload $unit" 2>"$run/reload.err"; then
    not_ok "reload" "systemctl reload failed: $(tr '\n' ' ' <"$run/reload.err") $(since "$mark" | tail -5 | tr '\n' '|')"
elif ! wait_for "journalctl --no-pager -o cat -u $unit | tail -n +$((mark + 1)) | grep -q 'SIGHUP: reloading /etc/router-hosts/agent.json'" 60; then
    not_ok "reload" "the agent did not log the reload: $(since "$mark" | tail -5 | tr '\n' '|')"
elif ! wait_for "[ \$(systemctl show -P ActiveState $unit) = active ]" 60; then
    # The agent sends RELOADING=1, then READY=1 once the new configuration is in use.
    not_ok "reload" "ActiveState=$(prop ActiveState) after the reload"
else
    ok "reload (ExecReload=$(prop ExecReload | sed -n 's/.*argv\[\]=\([^;]*\);.*/\1/p' | sed 's/ *$//'); the agent logged SIGHUP: reloading)"
fi

# 5. watchdog: a stopped agent (SIGSTOP) stops pinging and systemd restarts it.
# For the test a drop-in lowers WatchdogSec from 30 s to 5 s, so that this takes seconds; systemd
# sends the watchdog's SIGABRT with a SIGCONT, so the stopped agent aborts and is restarted.
inside "mkdir -p /run/systemd/system/$unit.service.d && printf '[Service]\nWatchdogSec=5s\n' >/run/systemd/system/$unit.service.d/test-watchdog.conf &&
    systemctl daemon-reload && systemctl restart $unit"
before_pid=$(prop MainPID) before_restarts=$(prop NRestarts)
if [ "$(prop WatchdogUSec)" != 5s ] || [ "$(prop ActiveState)" != active ]; then
    not_ok "watchdog" "could not start with WatchdogSec=5s (WatchdogUSec=$(prop WatchdogUSec), ActiveState=$(prop ActiveState))"
else
    mark=$(cursor)
    inside "kill -STOP $before_pid"
    if ! wait_for "[ \$(systemctl show -P NRestarts $unit) -gt $before_restarts ] && [ \$(systemctl show -P ActiveState $unit) = active ]" 90; then
        not_ok "watchdog" "no restart after SIGSTOP of $before_pid (NRestarts=$(prop NRestarts), ActiveState=$(prop ActiveState)): $(since "$mark" | tail -5 | tr '\n' '|')"
    elif ! since "$mark" | grep -q 'Watchdog timeout'; then
        not_ok "watchdog" "restarted, but systemd did not log a watchdog timeout: $(since "$mark" | tail -5 | tr '\n' '|')"
    elif ! readiness; then
        not_ok "watchdog" "restarted agent (pid $(prop MainPID)) does not answer ready"
    else
        ok "watchdog (SIGSTOP pid $before_pid: watchdog timeout, restarted as pid $(prop MainPID), answers ready; test drop-in WatchdogSec=5s)"
    fi
fi
inside "rm -f /run/systemd/system/$unit.service.d/test-watchdog.conf && systemctl daemon-reload"

# 6. clean stop: SIGTERM, STOPPING logged, exit status 0.
mark=$(cursor)
if ! inside "systemctl stop $unit" 2>"$run/stop.err"; then
    not_ok "clean stop" "systemctl stop failed: $(tr '\n' ' ' <"$run/stop.err")"
else
    stop_log=$(since "$mark")
    result=$(prop Result) status_code=$(prop ExecMainStatus)
    if [ "$result" != success ] || [ "$status_code" != 0 ]; then
        not_ok "clean stop" "Result=$result ExecMainStatus=$status_code"
    elif ! grep -q 'stopping: no new calls' <<<"$stop_log" || ! grep -q 'stopped cleanly' <<<"$stop_log"; then
        not_ok "clean stop" "the agent did not log stopping/stopped cleanly: $(tail -5 <<<"$stop_log" | tr '\n' '|')"
    elif grep -Eq 'timed out|Killing process' <<<"$stop_log"; then
        not_ok "clean stop" "systemd had to kill: $(grep -E 'timed out|Killing' <<<"$stop_log" | head -2 | tr '\n' '|')"
    else
        ok "clean stop (exit status 0, Result=success; logged stopping and stopped cleanly)"
    fi
fi

# Starts the unit expecting it to fail; waits until systemd has settled it (failed, or waiting to restart).
start_expecting_failure() {
    inside "systemctl reset-failed $unit; systemctl start $unit" >/dev/null 2>&1
    wait_for "case \$(systemctl show -P ActiveState $unit)/\$(systemctl show -P SubState $unit) in failed/* | */auto-restart) true ;; *) false ;; esac" 60
}
# What a user runs to see why the unit failed; each test's expected line is unique to it.
journal_errors() { inside "journalctl --no-pager -o cat -p err -u $unit"; }
# Waits until journald has stored (it reads the agent's stream on its own time) an err line containing $1.
wait_for_error_line() { wait_for "journalctl --no-pager -o cat -p err -u $unit | grep -qF \"$1\"" 30; }

# 7. a configuration error: exit 2, not restarted (RestartPreventExitStatus=2), and journalctl -p err says why.
cp "$root/etc/router-hosts/agent.json" "$run/agent.json.good"
sed -i 's/"log_level": "Information"/"log_level": "Information", "colour": "blue"/' "$root/etc/router-hosts/agent.json"
mark=$(cursor)
if ! start_expecting_failure; then
    not_ok "configuration error exits 2 without restarts" "the unit did not fail (ActiveState=$(prop ActiveState))"
else
    state="ActiveState=$(prop ActiveState) SubState=$(prop SubState) ExecMainStatus=$(prop ExecMainStatus) NRestarts=$(prop NRestarts)"
    if [ "$state" != "ActiveState=failed SubState=failed ExecMainStatus=2 NRestarts=0" ]; then
        not_ok "configuration error exits 2 without restarts" "$state"
    else
        ok "configuration error exits 2 without restarts ($state)"
    fi
    if wait_for_error_line 'routerhosts-agent: /etc/router-hosts/agent.json: colour: unknown key'; then
        errors=$(journal_errors)
        ok "journalctl -p err shows the configuration error ($(grep -m1 'colour: unknown key' <<<"$errors" | cut -c1-90)...)"
    else
        not_ok "journalctl -p err shows the configuration error" "-p err has [$(journal_errors | tr '\n' '|')]; all priorities: $(since "$mark" | grep -m1 colour)"
    fi
fi
cp "$run/agent.json.good" "$root/etc/router-hosts/agent.json"

# 8. a configuration directory the service user cannot enter: permission denied, for router-hosts.
inside 'chgrp root /etc/router-hosts'
mark=$(cursor)
uid=$(inside 'id -u router-hosts')
if ! start_expecting_failure; then
    not_ok "unreachable configuration says permission denied" "the unit did not fail (ActiveState=$(prop ActiveState))"
else
    wanted="permission denied: the agent's user router-hosts (uid $uid) cannot enter the directory /etc/router-hosts"
    if wait_for_error_line "$wanted" && [ "$(prop ExecMainStatus)" = 2 ]; then
        ok "unreachable configuration says permission denied (journalctl -p err: ...$wanted...)"
    else
        not_ok "unreachable configuration says permission denied" "exit $(prop ExecMainStatus); -p err has [$(journal_errors | tr '\n' '|')]"
    fi
fi
inside "chgrp router-hosts /etc/router-hosts; systemctl reset-failed $unit"

say "done in $((SECONDS - started)) s"
echo "systemd-summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
