#!/usr/bin/env bash
# Runtime benchmarks, loopback only, bounded in time. Prints figures; never fails because a
# machine is slow.
#   zero-downtime     wrk keep-alive load on the Flask fixture through nginx while hop makes
#                     10 deploys (a fresh generation each) and 10 rollbacks: failed requests
#                     (socket errors + non-2xx) vs the same load with no switches (the floor)
#   TCP $PORT path    the same for the python-stdlib fixture (nginx → the app's proxy socket
#                     symlink → systemd-socket-proxyd → the app's port in its namespace; a switch
#                     is a rename, no reload), 10 deploys + 10 rollbacks
#   proxy latency     what that path adds to a request: one nginx proxying to a backend's TCP port
#                     directly vs through a unix socket + systemd-socket-proxyd (goal <= 0.2 ms p50)
#   rollback time     from starting `hop rollback` to the old generation answering through nginx
#   no-op deploy      `hop deploy` of what already serves
#   exposure          systemd-analyze security --offline of every unit a generation installs
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/setup.sh" >&2; exit 2; }
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
work=$(mktemp -d /tmp/hop-bench-work.XXXXXX)
export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
cleanup() { $HOP host down >/dev/null 2>&1 || true; rm -rf "$home" "$work"; }
trap cleanup EXIT
port=${PORT:-18480}
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done

$HOP seed import busybox patchelf python >/dev/null
$HOP host up --http-port "$port" >/dev/null
cp -R fixtures/apps/flask-app "$work/a"
cp -R fixtures/apps/flask-app "$work/b"
sed -i 's/Hello from Flask on hop/Hello B/' "$work/b/app.py"
$HOP deploy "$work/a" --app flask-app --watch 0 >/dev/null 2>&1
$HOP deploy "$work/b" --app flask-app --watch 0 >/dev/null 2>&1
$HOP deploy fixtures/apps/python-stdlib --app tcp-app --watch 0 >/dev/null 2>&1

# wrk's summary: total requests, socket errors, non-2xx/3xx answers.
wrk_summary() {
  python3 - "$@" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
req = int(re.search(r"(\d+) requests in", t).group(1))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
sock = sum(map(int, m.groups())) if m else 0
n = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
bad = int(n.group(1)) if n else 0
rps = re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)
print(f"{req} requests ({rps}/s), {sock + bad} failed (socket errors {sock}, non-2xx {bad})")
if len(sys.argv) > 2:
    with open(sys.argv[2], "a") as f:
        f.write(f"BENCHROW\tfailed requests, {sys.argv[3]}\t{sock + bad} of {req}\tthe same load, no switches\t—\t\t0 failed\t{'yes' if sock + bad == 0 else 'no'}\n")
PY
}

under_load() { # app, seconds-cap, output, switch commands…
  local app=$1 cap=$2 out=$3; shift 3
  wrk -t2 -c16 -d"${cap}s" --timeout 10s -H "Host: $app.localhost" "http://127.0.0.1:$port/" >"$out" 2>&1 &
  local wrk_pid=$!
  sleep 1
  "$@"
  sleep 1
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
}

switches() { # app, source, rounds
  for _ in $(seq "$3"); do
    $HOP deploy "$2" --app "$1" --force --watch 0 >/dev/null 2>>"$work/switch.log" || echo "deploy failed" >>"$work/switch.log"
    $HOP rollback "$1" >/dev/null 2>>"$work/switch.log" || echo "rollback failed" >>"$work/switch.log"
  done
}

under_load flask-app 8 "$work/floor.txt" sleep 5
echo "floor (keep-alive load, no switches, ~6 s): $(wrk_summary "$work/floor.txt")"
t0=$(date +%s.%N)
under_load flask-app 300 "$work/flask.txt" switches flask-app "$work/b" 10
t1=$(date +%s.%N)
echo "flask (wsgi on a systemd socket), 10 deploys + 10 rollbacks in $(printf '%.1f' "$(echo "$t1 - $t0 - 2" | bc)") s: $(wrk_summary "$work/flask.txt" "$work/rows" "wsgi, 10 deploys + 10 rollbacks")"
under_load tcp-app 300 "$work/tcp.txt" switches tcp-app fixtures/apps/python-stdlib 10
echo "tcp \$PORT app (proxy socket renamed, no reload), 10 deploys + 10 rollbacks: $(wrk_summary "$work/tcp.txt" "$work/rows" "web:, 10 deploys + 10 rollbacks")"
cat "$work/rows" 2>/dev/null || true
if grep -qE "failed|error" "$work/switch.log" 2>/dev/null; then echo "switch problems:"; grep -E "failed|error" "$work/switch.log" | head -5; fi

# Proxy latency: the same nginx, the same backend (an nginx server answering "ok" on a loopback
# port, so the path's own cost is not hidden by a slow app), two front ports: one proxies to the
# backend's port directly, the other to a unix socket served by systemd-socket-proxyd forwarding to
# that port — hop's path for `web:` apps. Keep-alive upstreams on both, as in hop's sites.
px=$work/proxy-bench; mkdir -p "$px"; chmod 755 "$work" "$px"
pport=$((port + 100)); while (exec 3<>/dev/tcp/127.0.0.1/$pport) 2>/dev/null; do pport=$((pport + 1)); done
systemd-socket-activate -l "$px/web-1.sock" /lib/systemd/systemd-socket-proxyd --connections-max=1024 "127.0.0.1:$((pport + 2))" >"$px/proxyd.log" 2>&1 &
proxyd_pid=$!
for _ in $(seq 50); do [ -S "$px/web-1.sock" ] && break; sleep 0.1; done
chmod 666 "$px/web-1.sock"
cat >"$px/nginx.conf" <<NGINX
daemon on; worker_processes 1; pid $px/nginx.pid; error_log $px/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $px/cb; proxy_temp_path $px/p; fastcgi_temp_path $px/f; uwsgi_temp_path $px/u; scgi_temp_path $px/s;
  upstream direct { server 127.0.0.1:$((pport + 2)); keepalive 16; keepalive_time 1s; }
  upstream proxied { server unix:$px/web-1.sock; keepalive 16; keepalive_time 1s; }
  server { listen 127.0.0.1:$((pport + 2)); location / { return 200 "ok\\n"; } }
  server { listen 127.0.0.1:$pport; location / { proxy_pass http://direct; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$((pport + 1)); location / { proxy_pass http://proxied; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
nginx -c "$px/nginx.conf" -p "$px/" -e "$px/error.log"
sleep 0.5
for round in 1 2 3; do
  wrk -t1 -c8 -d4s --latency "http://127.0.0.1:$pport/" >"$px/direct-$round.txt" 2>&1 || true
  wrk -t1 -c8 -d4s --latency "http://127.0.0.1:$((pport + 1))/" >"$px/proxied-$round.txt" 2>&1 || true
done
kill "$(cat "$px/nginx.pid")" 2>/dev/null || true; kill "$proxyd_pid" 2>/dev/null || true
python3 - "$px" <<'PY'
import re, statistics, sys
d = sys.argv[1]
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
def read(name):
    p50, p99, rps = [], [], []
    for r in (1, 2, 3):
        t = open(f"{d}/{name}-{r}.txt").read()
        # The distribution lines only ("72.50%" ends a Req/Sec line too).
        p50.append(ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))); p99.append(ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1)))
        rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)))
    return statistics.median(p50), statistics.median(p99), statistics.median(rps)
a, b = read("direct"), read("proxied")
print("proxy path latency (nginx → backend, keep-alive, c8, median of 3 × 4 s): direct p50 %.3f ms p99 %.3f ms %.0f req/s; "
      "through unix socket + socket-proxyd p50 %.3f ms p99 %.3f ms %.0f req/s; added p50 %.3f ms (goal <= 0.2 ms)"
      % (a[0], a[1], a[2], b[0], b[1], b[2], b[0] - a[0]))
print("BENCHROW\tweb: proxy path (unix socket + socket-proxyd)\t+%.3f ms p50, %.0f req/s\tnginx → the backend directly\t%.0f req/s\t%.2f× req/s\t≤ +0.1 ms p50, ≥ 0.85× req/s\t%s"
      % (b[0] - a[0], b[2], a[2], b[2] / a[2], "yes" if b[0] - a[0] <= 0.1 and b[2] / a[2] >= 0.85 else "no"))
PY

# Rollback time: two generations with different bodies (A and B); each run is `hop rollback --to`
# the one not serving, timed from the command's start to its body answering through nginx.
genA=$($HOP deploy "$work/a" --app flask-app --force --watch 0 --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
genB=$($HOP deploy "$work/b" --app flask-app --force --watch 0 --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
python3 - "$HOP" "$port" "$genA" "$genB" <<'PY'
import subprocess, sys, time, urllib.request, statistics
hop, port, gen_a, gen_b = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def body():
    try:
        return urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "flask-app.localhost"}), timeout=2).read().decode()
    except Exception:
        return ""
served, exited = [], []
for i in range(6):
    target, want = (gen_a, "Hello from Flask") if i % 2 == 0 else (gen_b, "Hello B")
    t0 = time.time()
    p = subprocess.Popen([hop, "rollback", "flask-app", "--to", target], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t_served = None
    while time.time() - t0 < 20:
        if t_served is None and want in body():
            t_served = time.time() - t0
        if p.poll() is not None and t_served is not None:
            break
        time.sleep(0.005)
    p.wait()
    served.append(t_served if t_served is not None else float("nan")); exited.append(time.time() - t0)
print("rollback to serving: median %.0f ms, max %.0f ms over %d runs (goal <= 1000 ms); the command exits after median %.0f ms (it then drains and stops the other generation)"
      % (statistics.median(served) * 1000, max(served) * 1000, len(served), statistics.median(exited) * 1000))
PY

# No-op deploy: what serves is deployed again.
$HOP deploy "$work/b" --app flask-app --watch 0 >/dev/null 2>&1 || true
hyperfine --style none --runs 10 --export-json "$work/noop.json" "$HOP deploy $work/b --app flask-app --watch 0" >/dev/null 2>&1
python3 -c "import json; r=json.load(open('$work/noop.json'))['results'][0]; print(f\"no-op deploy: {r['mean']*1000:.0f} ms ± {(r['stddev'] or 0)*1000:.0f} (goal <= 500 ms)\")"

# Exposure of every unit a generation installs.
scores=""
for app in flask-app tcp-app; do
  gen=$(readlink -f "$home/apps/$app/profile")
  for unit in "$gen"/units/*.service; do
    s=$(systemd-analyze security --offline=true --no-pager "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
    scores="$scores $(basename "$unit")=$s"
  done
done
echo "unit exposure (systemd-analyze security --offline; goal <= 1.5):$scores"
