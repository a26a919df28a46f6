#!/usr/bin/env bash
# hop server benchmarks, loopback only, bounded in time. Prints figures and compares each with a
# goal or a peer measured in the same run; never fails because a machine is slow.
#   idle RSS        hop server after start-up and 20 API requests, vs python3's http.server
#                   (a minimal peer) and the 30 MB goal
#   GET /api/apps   with N deployed apps (default 100 static sites), wrk on loopback, p50/p99
#                   vs the 20 ms p99 goal, and req/s vs the same JSON as a static file from nginx
#                   (the peer; goal >= 0.8x at 10 connections), alternated, twice each
#   front           GET /api/apps straight to the root helper vs through the unprivileged front
#                   (the installed server's split), p50/p99 and the front's RSS
#   API overhead    the same no-op deploy (a recorded build, nothing changed) through the CLI
#                   and through the API, REPS times each: the API's extra time per deploy,
#                   vs the 5 % goal; and one full deploy (--force) each way
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/setup.sh" >&2; exit 2; }
APPS=${APPS:-100}
REPS=${REPS:-20}
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; $HOP host down >/dev/null 2>&1 || true; rm -rf "$home"; }
trap cleanup EXIT
free_port() { local p=$1; while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

port=$(free_port 18580)
api=$(free_port 18680)
$HOP seed import busybox patchelf python >/dev/null
$HOP host up --http-port "$port" >/dev/null
$HOP user add bench --role admin >/dev/null
token=$($HOP token create bench --expires 2h)

$HOP server --listen "127.0.0.1:$api" >"$home/server.log" 2>&1 &
server=$!; pids+=("$server")
for _ in $(seq 100); do curl -sf "127.0.0.1:$api/api/health" >/dev/null && break; sleep 0.1; done

echo "== idle RSS"
for _ in $(seq 20); do curl -sf -H "Authorization: Bearer $token" "127.0.0.1:$api/api/apps" >/dev/null; done
sleep 1
hop_rss=$(rss_kb "$server")
peer_port=$(free_port 18780)
python3 -m http.server "$peer_port" --bind 127.0.0.1 >/dev/null 2>&1 &
peer=$!; pids+=("$peer")
sleep 1
for _ in $(seq 20); do curl -sf "127.0.0.1:$peer_port/" >/dev/null || true; done
peer_rss=$(rss_kb "$peer")
printf 'hop server idle RSS: %.1f MB (goal <= 30 MB); python3 -m http.server: %.1f MB\n' \
  "$(echo "$hop_rss/1024" | bc -l)" "$(echo "$peer_rss/1024" | bc -l)"
python3 -c "import sys; h, p = int(sys.argv[1]) / 1024, int(sys.argv[2]) / 1024; print('BENCHROW\thop server idle RSS\t%.1f MB\tpython3 -m http.server\t%.1f MB\t%.2f×\t≤ 30 MB\t%s' % (h, p, h / p, 'yes' if h <= 30 else 'no'))" "$hop_rss" "$peer_rss"
# RSS counts every touched page of the mapped code (hop's binary, the Swift runtime, Foundation,
# ICU) as well as the heap; only the anonymous part (heap and stacks) is memory this server made.
awk '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} /^Anonymous:/ {an=$2}
     END {printf "hop server idle: heap and stacks %.1f MB, mapped code and libraries %.1f MB (PSS %.1f MB)\n", an/1024, (rss-an)/1024, pss/1024}' \
  "/proc/$server/smaps_rollup"

echo "== GET /api/apps with $APPS deployed apps"
t0=$(now)
for i in $(seq "$APPS"); do
  $HOP deploy fixtures/apps/static-site --app "bench-$i" --watch 0 >/dev/null 2>&1 || echo "deploy bench-$i failed"
done
printf 'deployed %d apps in %.0f s\n' "$APPS" "$(echo "$(now) - $t0" | bc -l)"
count=$(curl -s -H "Authorization: Bearer $token" "127.0.0.1:$api/api/apps" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "the API lists $count apps"
# The peer: the same JSON as a static file from nginx (as many workers as cores, keep-alive, no
# access log), measured alternately with hop so both see the same machine.
mkdir -p "$home/peer"
curl -s -H "Authorization: Bearer $token" "127.0.0.1:$api/api/apps" > "$home/peer/apps.json"
peer_http=$(free_port 18880)
printf 'worker_processes auto;\npid %s;\nerror_log %s;\nevents { worker_connections 512; }\nhttp {\n  access_log off;\n  server { listen 127.0.0.1:%s; root %s; location / { default_type application/json; } }\n}\n' \
  "$home/peer/nginx.pid" "$home/peer/error.log" "$peer_http" "$home/peer" > "$home/peer/nginx.conf"
nginx -c "$home/peer/nginx.conf" -p "$home/peer"
for _ in $(seq 50); do [ -s "$home/peer/nginx.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$home/peer/nginx.pid")")
echo "the peer serves $(stat -c %s "$home/peer/apps.json") bytes; load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
wrk_figures() { # label connections
  python3 - "$home/wrk.txt" "$1" "$2" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)" % re.escape(label), t)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
print("%s wrk 10 s, %s connection(s): %.0f req/s, p50 %.2f ms, p99 %.2f ms" % (sys.argv[2], sys.argv[3], rps, ms("50%"), ms("99%")))
open(sys.argv[1] + ".rps", "a").write("%s %s %f %f\n" % (sys.argv[2].strip(), sys.argv[3], rps, ms("99%")))
PY
}
rm -f "$home/wrk.txt.rps"
for round in 1 2; do
  for c in 1 10; do
    wrk -t1 -c"$c" -d10s --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$api/api/apps" > "$home/wrk.txt"
    wrk_figures "hop  " "$c"
    wrk -t1 -c"$c" -d10s --latency "http://127.0.0.1:$peer_http/apps.json" > "$home/wrk.txt"
    wrk_figures "nginx" "$c"
  done
done
python3 - "$home/wrk.txt.rps" <<'PY'
import sys, collections
best = collections.defaultdict(lambda: (0.0, 1e9))
for line in open(sys.argv[1]):
    who, c, rps, p99 = line.split()
    r, p = best[(who, c)]
    best[(who, c)] = (max(r, float(rps)), min(p, float(p99)))
for c in ("1", "10"):
    h, n = best[("hop", c)], best[("nginx", c)]
    print("best of 2, %s connection(s): hop %.0f req/s (p99 %.2f ms), nginx static file %.0f req/s: hop/nginx %.2fx (goal >= 0.8x at 10 connections, p99 <= 20 ms)"
          % (c, h[0], h[1], n[0], h[0] / n[0]))
    if c == "10":
        print("BENCHROW\tGET /api/apps, 100 apps, 10 connections\t%.0f req/s, p99 %.1f ms\tthe same JSON as a static file (nginx)\t%.0f req/s\t%.2f×\t≥ 0.8×, p99 ≤ 20 ms\t%s"
              % (h[0], h[1], n[0], h[0] / n[0], "yes" if h[0] / n[0] >= 0.8 and h[1] <= 20 else "no"))
PY
printf 'hop server RSS after the load: %.1f MB\n' "$(echo "$(rss_kb "$server")/1024" | bc -l)"

echo "== the installed server's split: GET /api/apps straight to the helper vs through the unprivileged front"
# The helper as hop-helper.service runs it (a unix socket), and the front in front of it (as
# hop-server.service runs it, here as root since only the extra hop is measured).
$HOP server run --socket "$home/helper.sock" --socket-group root >"$home/helper.log" 2>&1 &
helper=$!; pids+=("$helper")
$HOP server run --front --socket "$home/front.sock" --helper "$home/helper.sock" >"$home/front.log" 2>&1 &
frontp=$!; pids+=("$frontp")
for _ in $(seq 100); do [ -S "$home/front.sock" ] && [ -S "$home/helper.sock" ] && break; sleep 0.1; done
python3 - "$home/helper.sock" "$home/front.sock" "$token" <<'PY'
import http.client, socket, sys, time
class Unix(http.client.HTTPConnection):
    def __init__(self, path): super().__init__("localhost"); self.path = path
    def connect(self): self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(self.path)
def run(path, n=400):
    c, times = Unix(path), []
    for i in range(n + 20):
        t = time.perf_counter()
        c.request("GET", "/api/apps", headers={"Authorization": "Bearer " + sys.argv[3]})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        if i >= 20: times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000
# Alternated, so both see the same machine.
h1, f1 = run(sys.argv[1]), run(sys.argv[2])
h2, f2 = run(sys.argv[1]), run(sys.argv[2])
h = (min(h1[0], h2[0]), min(h1[1], h2[1])); f = (min(f1[0], f2[0]), min(f1[1], f2[1]))
print("helper directly: p50 %.2f ms, p99 %.2f ms; through the front: p50 %.2f ms, p99 %.2f ms (front adds %.2f ms at p50)"
      % (h[0], h[1], f[0], f[1], f[0] - h[0]))
PY
printf 'front RSS after the load: %.1f MB (the helper: %.1f MB)\n' "$(echo "$(rss_kb "$frontp")/1024" | bc -l)" "$(echo "$(rss_kb "$helper")/1024" | bc -l)"

echo "== time in the API layer: the same deploy from the CLI and through the API"
$HOP deploy fixtures/apps/python-stdlib --app overhead --watch 0 >/dev/null 2>&1
build=$($HOP builds overhead --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
cli_total=0; api_total=0
for _ in $(seq "$REPS"); do
  t=$(now); $HOP deploy fixtures/apps/python-stdlib --app overhead --watch 0 >/dev/null 2>&1; cli_total=$(echo "$cli_total + $(now) - $t" | bc -l)
  t=$(now); curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data "{\"path\":\"$PWD/fixtures/apps/python-stdlib\",\"watch\":0}" "127.0.0.1:$api/api/apps/overhead/deploy" >/dev/null
  api_total=$(echo "$api_total + $(now) - $t" | bc -l)
done
python3 - "$cli_total" "$api_total" "$REPS" <<'PY'
import sys
cli, api, n = float(sys.argv[1]) / int(sys.argv[3]), float(sys.argv[2]) / int(sys.argv[3]), int(sys.argv[3])
print("no-op deploy (validate, build cache hit, compare), mean of %d: CLI %.0f ms, API %.0f ms: API %+.1f %% (goal <= +5 %%)"
      % (n, cli * 1000, api * 1000, (api / cli - 1) * 100))
PY
FULL=${FULL:-5}
cli_full=0; api_full=0
for _ in $(seq "$FULL"); do
  t=$(now); $HOP deploy fixtures/apps/python-stdlib --app overhead --watch 0 --force >/dev/null 2>&1; cli_full=$(echo "$cli_full + $(now) - $t" | bc -l)
  t=$(now); curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data "{\"path\":\"$PWD/fixtures/apps/python-stdlib\",\"watch\":0,\"force\":true}" "127.0.0.1:$api/api/apps/overhead/deploy" >/dev/null
  api_full=$(echo "$api_full + $(now) - $t" | bc -l)
done
python3 -c "import sys; n = int(sys.argv[3]); c, a = float(sys.argv[1]) / n, float(sys.argv[2]) / n; print('full deploy (--force, a new generation each), mean of %d: CLI %.2f s, API %.2f s: API %+.1f %% (goal <= +5 %%)' % (n, c, a, (a / c - 1) * 100))" "$cli_full" "$api_full" "$FULL"
