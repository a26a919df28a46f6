#!/usr/bin/env bash
# Apps with data and tenant isolation: figures, compared in the same run with a floor. Loopback
# only, bounded in time; never fails because a machine is slow.
#   addon provision  `hop addon create postgres` + `hop addon attach` on a running host (server
#                    already up) vs the floor: the same CREATE ROLE/CREATE DATABASE by psql alone
#   first deploy     of the pg-app fixture ([[addons]]: server start + database + release step)
#                    vs the same app with its [[addons]] and release step removed
#   redis, mariadb   first `hop addon create` and the next one (MariaDB: the first starts the shared
#                    server; Redis: each addon starts a server of its own)
#   idle memory      of each addon server (PSS of all its processes) and its main process alone
#                    (Redis: per addon, since each has its own server)
#   TCP proxy        GET latency to a `web:` app through nginx (its proxy socket +
#                    socket-proxyd) vs straight to the app inside its network namespace (the
#                    floor), wrk c8 for 5 s each
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
port=${PORT:-18580}
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000" | bc -l | xargs printf '%.0f'; }

$HOP seed import busybox patchelf python postgres redis mariadb >/dev/null
$HOP host up --http-port "$port" >/dev/null
pid=$(cat "$home/host/systemd.pid")
inhost() { nsenter -t "$pid" -m -p "$@"; }

# First deploys: with [[addons]] (the server starts, the database is made, the release runs) and
# without (the same Flask app, nothing to provision).
cp -R fixtures/apps/pg-app "$work/with"
cp -R fixtures/apps/pg-app "$work/without"
rm "$work/without/hop3.toml" "$work/without/release.py"
printf 'wsgi: app:app\n' > "$work/without/Procfile"
$HOP build "$work/with" --app bench-with >/dev/null 2>&1
$HOP build "$work/without" --app bench-without >/dev/null 2>&1
t0=$(now); $HOP deploy "$work/without" --app bench-without --watch 0 >/dev/null 2>&1; t1=$(now)
t2=$(now); $HOP deploy "$work/with" --app bench-with --watch 0 >/dev/null 2>&1; t3=$(now)
echo "first deploy (build cached): without addons $(ms "$t0" "$t1") ms, with [[addons]] postgres $(ms "$t2" "$t3") ms (server start, database, release step)"

# Provision + attach on a running server, vs psql alone.
pg=$(readlink "$home/gcroots/addon-postgres")
sock=/proc/$pid/root/run/hop-addons/postgres
total=0; floor=0; n=5
for i in $(seq 1 $n); do
  a=$(now); $HOP addon create postgres "bench-$i" >/dev/null 2>&1; $HOP addon attach bench-without "bench-$i" --watch 0 >/dev/null 2>&1; b=$(now)
  total=$(echo "$total + $b - $a" | bc -l)
  c=$(now)
  "$pg/bin/psql" -X -q -h "$sock" -U postgres -d postgres -c "CREATE ROLE \"floor-$i\" LOGIN PASSWORD 'x'" -c "CREATE DATABASE \"floor-$i\" OWNER \"floor-$i\"" >/dev/null
  d=$(now)
  floor=$(echo "$floor + $d - $c" | bc -l)
done
echo "addon create + attach (app restarts with DATABASE_URL): $(echo "$total * 1000 / $n" | bc -l | xargs printf '%.0f') ms mean of $n; floor (psql CREATE ROLE + DATABASE alone): $(echo "$floor * 1000 / $n" | bc -l | xargs printf '%.0f') ms"

# Redis and MariaDB: MariaDB's first create starts the shared server, the second is the provisioning
# itself; every Redis create starts a server of the addon's own.
for type in redis mariadb; do
  a=$(now); $HOP addon create "$type" "bench-$type-1" >/dev/null 2>&1; b=$(now)
  $HOP addon create "$type" "bench-$type-2" >/dev/null 2>&1; c=$(now)
  echo "$type addon: first create (server start) $(ms "$a" "$b") ms, next create $(ms "$b" "$c") ms"
done

# Idle memory of each server: proportional set size (shared pages split) of all its processes.
sleep 2
for type in postgres redis-bench-redis-1 redis-bench-redis-2 mariadb; do
  cg=$(inhost systemctl show -p ControlGroup --value "hop-addon-$type.service")
  procs=$(cat "/sys/fs/cgroup/memory$cg/cgroup.procs" 2>/dev/null || cat "/sys/fs/cgroup/unified$cg/cgroup.procs" 2>/dev/null || cat "/sys/fs/cgroup$cg/cgroup.procs")
  pss=0; first=""
  for p in $procs; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); pss=$((pss + ${v:-0}))
    [ -n "$first" ] || first=$(awk '/VmRSS/ {print $2}' "/proc/$p/status")
  done
  echo "idle $type server: $((pss / 1024)) MiB PSS over $(echo $procs | wc -w) processes (main process alone: $(( ${first:-0} / 1024 )) MiB RSS)"
done

# The TCP path: nginx + hop's proxy socket + socket-proxyd vs the app directly in its namespace. Two apps: the
# python-stdlib fixture as it is (http.server's listen backlog is 5) and the same with a backlog of
# 1024, because the proxy's connection pattern overflows a backlog of 5 (SYN retransmits, ~1 s).
cp -R fixtures/apps/python-stdlib "$work/backlog"
sed -i 's/^if __name__ == "__main__":/http.server.ThreadingHTTPServer.request_queue_size = 1024\nif __name__ == "__main__":/' "$work/backlog/server.py"
lat() { python3 -c 'import re,sys; t=open(sys.argv[1]).read(); g=lambda p: re.search(p,t).group(1); print("p50", g(r"(?m)^\s+50%\s+(\S+)"), "p99", g(r"(?m)^\s+99%\s+(\S+)"), g(r"Requests/sec:\s+(\S+)")+"/s")' "$1"; }
for variant in python-stdlib:fixtures/apps/python-stdlib backlog-1024:$work/backlog; do
  name=${variant%%:*}; src=${variant#*:}
  app=bench-${name%%-*}
  $HOP deploy "$src" --app "$app" --watch 0 >/dev/null 2>&1
  appport=$($HOP generations "$app" --json | python3 -c 'import json,sys; print([g for g in json.load(sys.stdin) if g["current"]][0]["ports"][0])')
  ns=hop-$(printf '%s' "$app" | sha256sum | cut -c1-12)
  wrk -t2 -c8 -d5s --latency -H "Host: $app.localhost" "http://127.0.0.1:$port/" >"$work/proxy.txt" 2>&1 || true
  inhost ip netns exec "$ns" wrk -t2 -c8 -d5s --latency "http://127.0.0.1:$appport/" >"$work/direct.txt" 2>&1 || true
  echo "web: ($name) through nginx and hop's proxy socket: $(lat "$work/proxy.txt" 2>/dev/null || echo n/a); straight to the app in its namespace (floor): $(lat "$work/direct.txt" 2>/dev/null || echo n/a)"
done
