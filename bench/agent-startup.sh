#!/usr/bin/env bash
# Measures the agent's start-to-READY time, idle RSS, and RSS with many hosts, for several
# publish variants. Prints numbers; asserts nothing (the machine is shared and noisy).
#
# usage: bench/agent-startup.sh [--runs N] [--hosts N] [--variants "sc-r2r aot"] [--skip-publish] [--dir DIR]
#   fd      framework-dependent Release build, run with `dotnet routerhosts-agent.dll`
#   fd-r2r  the same with ReadyToRun (-r linux-x64 --no-self-contained -p:PublishReadyToRun=true)
#   sc      self-contained linux-x64
#   sc-r2r  self-contained linux-x64 with ReadyToRun (packaging/install.sh's fallback)
#   aot     NativeAOT (-p:PublishAot=true; what packaging/install.sh installs); reported as failed if it
#           does not publish or start (it needs clang: install.sh installs it)
#
# Start-to-READY: from spawning the process to READY=1 on a NOTIFY_SOCKET the bench binds
# (listeners bound, hosts file current). RSS: VmRSS from /proc after the agent idled 2 s.
# With --hosts N, for each variant: N hosts imported over the Unix socket (bench/seed-hosts.cs), then
# RSS after the import, then restarts with N hosts in the database (READY then includes rendering them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=5
hosts=100000
variants="sc-r2r aot"
publish=yes
dir=${TMPDIR:-/tmp}/routerhosts-bench

while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --hosts) hosts=$2; shift 2 ;;
        --variants) variants=$2; shift 2 ;;
        --skip-publish) publish=no; shift ;;
        --dir) dir=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "agent-startup.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$dir"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); runs per variant: $runs"

publish_variant() {
    local v=$1 out="$dir/publish-$1"
    local common=(-c Release -p:DebugType=none -o "$out")
    [ "$publish" = yes ] || { [ -d "$out" ] && return 0; }
    rm -rf "$out"
    case "$v" in
        fd) dotnet publish "$root/src/RouterHosts.Agent" "${common[@]}" ;;
        fd-r2r) dotnet publish "$root/src/RouterHosts.Agent" "${common[@]}" -r linux-x64 --no-self-contained -p:PublishReadyToRun=true ;;
        sc) dotnet publish "$root/src/RouterHosts.Agent" "${common[@]}" -r linux-x64 --self-contained ;;
        sc-r2r) dotnet publish "$root/src/RouterHosts.Agent" "${common[@]}" -r linux-x64 --self-contained -p:PublishReadyToRun=true ;;
        aot) dotnet publish "$root/src/RouterHosts.Agent" "${common[@]}" -r linux-x64 -p:PublishAot=true ;;
        *) echo "unknown variant $v" >&2; return 1 ;;
    esac >"$dir/publish-$v.log" 2>&1
}

agent_cmd() {
    local out="$dir/publish-$1"
    if [ "$1" = fd ]; then echo "dotnet $out/routerhosts-agent.dll"; else echo "$out/routerhosts-agent"; fi
}

# A site: PKI, config (TCP with mTLS + Unix socket), database and hosts file directories.
make_site() {
    local site=$1 cmd=$2
    rm -rf "$site"
    mkdir -p "$site/data" "$site/etc" "$site/run"
    $cmd pki init --dir "$site/pki" --server-name bench.test --ip 127.0.0.1 >/dev/null
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$site/agent.json" <<EOF
{
  "listen": ["127.0.0.1:$port"],
  "unix_socket": { "path": "$site/run/agent.sock", "mode": "0660" },
  "tls": { "certificate": "$site/pki/server.crt", "key": "$site/pki/server.key", "ca": "$site/pki/ca.crt" },
  "database": "$site/data/hosts.db",
  "hosts_file": { "path": "$site/etc/hosts", "mode": "file" },
  "log_level": "Warning"
}
EOF
    chmod 600 "$site/agent.json"
}

# measure SITE DURING_CMD AGENT_CMD... -> "ready_ms idle_rss_kb after_rss_kb hwm_kb stop_ms"
measure() {
    python3 - "$@" <<'PY'
import os, socket, subprocess, sys, time, signal, tempfile
site, during, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
path = os.path.abspath(os.path.join(site, "notify.sock"))
if os.path.exists(path): os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); sock.bind(path); sock.settimeout(0.05)
env = dict(os.environ, NOTIFY_SOCKET=path)
for k in ("JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"): env.pop(k, None)
log = open(os.path.join(site, "agent.log"), "wb")
start = time.monotonic()
p = subprocess.Popen(cmd + ["--config", os.path.join(site, "agent.json")], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
def fail(why):
    p.kill(); sys.exit(f"{why}; agent log: {open(os.path.join(site, 'agent.log')).read()[-2000:]}")
while True:
    try: msg = sock.recv(65536).decode()
    except socket.timeout:
        if p.poll() is not None: fail(f"agent exited {p.returncode} before READY=1")
        if time.monotonic() - start > 180: fail("no READY=1 within 180 s")
        continue
    if "READY=1" in msg.split("\n"): break
ready = (time.monotonic() - start) * 1000
def rss():
    fields = dict(l.split(":", 1) for l in open(f"/proc/{p.pid}/status"))
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
time.sleep(2)
idle, _ = rss()
after = idle
if during != "-":
    subprocess.run(during, shell=True, check=True, stdout=sys.stderr)
    time.sleep(2)
    after, _ = rss()
_, hwm = rss()
t = time.monotonic(); p.send_signal(signal.SIGTERM); p.wait(60); stop = (time.monotonic() - t) * 1000
if p.returncode != 0: fail(f"agent exited {p.returncode} on SIGTERM")
print(f"{ready:.0f} {idle} {after} {hwm} {stop:.0f}")
PY
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

printf '\n%-8s %16s %16s %14s %14s\n' variant "READY ms (med)" "READY ms (min)" "idle RSS MiB" "size MiB"
for v in $variants; do
    if ! publish_variant "$v"; then
        printf '%-8s publish failed (see %s)\n' "$v" "$dir/publish-$v.log"
        continue
    fi
    cmd=$(agent_cmd "$v")
    if ! make_site "$dir/site-$v" "$cmd" 2>"$dir/site-$v.log"; then
        printf '%-8s does not run (see %s)\n' "$v" "$dir/site-$v.log"
        continue
    fi
    results=()
    for _ in $(seq "$runs"); do results+=("$(measure "$dir/site-$v" - $cmd)"); done
    ready_med=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)
    ready_min=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | sort -n | head -1)
    rss_med=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | median)
    size=$(du -sm "$dir/publish-$v" | awk '{print $1}')
    printf '%-8s %16s %16s %14.1f %14s\n' "$v" "$ready_med" "$ready_min" "$(echo "$rss_med / 1024" | bc -l)" "$size"
done

if [ "$hosts" -gt 0 ]; then
    dotnet build "$root/bench/seed-hosts.cs" >"$dir/seed-build.log" 2>&1
fi
# Each variant that published: N hosts imported, then restarts holding them.
for v in $([ "$hosts" -gt 0 ] && echo "$variants"); do
    [ -d "$dir/publish-$v" ] && [ -n "$(ls -A "$dir/publish-$v")" ] || continue
    cmd=$(agent_cmd "$v")
    site="$dir/site-hosts-$v"
    make_site "$site" "$cmd"
    seed="dotnet run --no-build --file $root/bench/seed-hosts.cs -- $site/run/agent.sock $hosts"
    echo
    echo "with $hosts hosts ($v):"
    read -r ready idle after hwm stop < <(measure "$site" "$seed" $cmd)
    printf '  empty start: READY %s ms, idle RSS %.1f MiB; after importing %s hosts: RSS %.1f MiB (peak %.1f MiB); stop %s ms\n' \
        "$ready" "$(echo "$idle/1024" | bc -l)" "$hosts" "$(echo "$after/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)" "$stop"
    results=()
    for _ in $(seq "$runs"); do results+=("$(measure "$site" - $cmd)"); done
    printf '  restart with %s hosts: READY %s ms (median of %s; includes rendering the hosts file), idle RSS %.1f MiB, stop %s ms\n' \
        "$hosts" "$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)" "$runs" \
        "$(echo "$(printf '%s\n' "${results[@]}" | awk '{print $2}' | median) / 1024" | bc -l)" \
        "$(printf '%s\n' "${results[@]}" | awk '{print $5}' | median)"
done
