#!/usr/bin/env bash
# The fast path, one table: every measure of issue 22 with hop, the floor or peer measured in the
# same run, the ratio and the goal. hop and its floor are alternated (A B A B …), medians reported.
# Prints figures; never fails because a machine is slow (a goal not met reads "no", with the figure).
#   no-op rebuild       `hop build` of the unchanged Flask fixture   vs  nix-instantiate + nix-store
#                       --realise of the same expression (Nix's own no-op)
#   app-code rebuild    `hop build` after a one-line change to app.py vs  `nix-store --realise --check`
#                       of that derivation (Nix rebuilding it in the sandbox)
#   change served       `hop deploy` (default watch) of a changed app.py: until nginx answers the new
#                       text, and until the command returns
#   no-op deploy        `hop deploy` of what serves
#   rollback            `hop rollback --to` the other generation: until its text answers, and until
#                       the command returns
#   restore, API, RSS, NAR, web: proxy: from backup-bench, server-bench, nar-bench and deploy-bench
#                       (SKIP_SLOW=1 leaves those out; SLOW_BENCHES="a b" picks some)
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-$PWD/.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
RUNS=${RUNS:-10}
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
work=$(mktemp -d /tmp/hop-bench-work.XXXXXX)
rows=$work/rows.tsv
export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
# A `hop settle` still draining (its PID is in the app's journal) would write into $home as it goes.
settlers() { cat "$home"/apps/*/journal.json 2>/dev/null | python3 -c 'import json,sys; [print(json.loads(l).get("settler", "")) for l in sys.stdin if l.strip()]' 2>/dev/null || true; }
cleanup() {
  for pid in $(settlers); do kill "$pid" 2>/dev/null || true; done
  $HOP host down >/dev/null 2>&1 || true; pkill -f "$home" 2>/dev/null || true
  rm -rf "$home" "$work" 2>/dev/null || { sleep 1; rm -rf "$home" "$work"; }
}
trap cleanup EXIT
port=${PORT:-18680}
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done

$HOP seed import busybox patchelf python >/dev/null
$HOP host up --http-port "$port" >/dev/null
cp -R fixtures/apps/flask-app "$work/flask-app"
# An older hop (for a before/after run) has no --wait: it always waited.
WAIT=--wait; $HOP deploy --help 2>&1 | grep -q -- '--wait' || WAIT=
export WAIT

# The harness: alternated runs, medians, one row per measure (tab-separated, printed at the end).
python3 - "$HOP" "$home" "$work" "$port" "$RUNS" "$rows" <<'PY'
import json, os, re, statistics, subprocess, sys, time, urllib.request
hop, home, work, port, runs, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
wait = os.environ.get("WAIT", "")
app_dir = f"{work}/flask-app"
env = dict(os.environ)
def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        sys.exit(f"failed: {cmd}\n{r.stderr[-2000:]}")
    return r.stdout
def timed(cmd):
    t0 = time.perf_counter(); sh(cmd); return time.perf_counter() - t0
def med(xs): return statistics.median(xs)
def row(measure, hop_v, peer_name, peer_v, unit, goal, met):
    with open(rows, "a") as f:
        f.write("\t".join([measure, hop_v, peer_name, peer_v, unit, goal, "yes" if met else "no"]) + "\n")
def ms(x): return f"{x * 1000:.0f} ms"
def body():
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "flask-app.localhost"})
        return urllib.request.urlopen(req, timeout=2).read().decode()
    except Exception:
        return ""
def race(argv, want, cap=60):
    """Starts argv; returns (seconds until `want` answers through nginx, seconds until argv exits)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t_served = t_ret = None
    while time.perf_counter() - t0 < cap and (t_served is None or t_ret is None):
        if t_served is None and want in body(): t_served = time.perf_counter() - t0
        if t_ret is None and p.poll() is not None: t_ret = time.perf_counter() - t0
        time.sleep(0.003)
    p.wait()
    return (t_served or float("nan"), t_ret or float("nan"))
counter = [0]
def change():
    counter[0] += 1
    p = f"{app_dir}/app.py"
    t = open(p).read()
    t = re.sub(r"Hello from Flask on hop[^\\\"']*", f"Hello from Flask on hop r{counter[0]}x{os.getpid()}", t, count=1)
    open(p, "w").write(t)
    return f"r{counter[0]}x{os.getpid()}"

# 1. No-op rebuild vs Nix's no-op on the same expression.
sh(f"{hop} build {app_dir}")
expr = f"{home}/apps/flask-app/build.nix"
floor_cmd = f"nix-store --realise $(nix-instantiate --option substituters '' {expr} 2>/dev/null) --option substituters '' >/dev/null"
a, b = [], []
for _ in range(runs):
    a.append(timed(f"{hop} build {app_dir} >/dev/null"))
    b.append(timed(floor_cmd))
row("no-op rebuild (Flask fixture)", ms(med(a)), "nix-instantiate + nix-store --realise", ms(med(b)),
    f"+{(med(a) - med(b)) * 1000:.0f} ms", "≤ floor + 40 ms", med(a) - med(b) <= 0.040)

# 2. App-code rebuild vs Nix rebuilding that derivation in its sandbox.
a, b = [], []
for _ in range(5):
    change()
    a.append(timed(f"{hop} build {app_dir} >/dev/null 2>&1"))
    drv = json.loads(sh(f"{hop} show flask-app --json"))["drvPath"]
    b.append(timed(f"nix-store --realise --check --option substituters '' {drv} >/dev/null 2>&1"))
row("app-code-only rebuild", ms(med(a)), "nix-store --realise --check of that .drv", ms(med(b)),
    f"{med(a) / med(b):.2f}×", "≤ 1.5×", med(a) / med(b) <= 1.5)

# 3–4. Code change → served, and the default command returning.
sh(f"{hop} deploy {app_dir} --app flask-app {wait} >/dev/null 2>&1")
served, returned = [], []
for _ in range(5):
    want = change()
    t_served, t_ret = race([hop, "deploy", app_dir, "--app", "flask-app"], want)
    served.append(t_served); returned.append(t_ret)
    time.sleep(1.5)  # the background watch of this generation (not timed) before the next change
row("code change → new text served", ms(med(served)), "—", "—", "", "≤ 500 ms", med(served) <= 0.5)
row("`hop deploy` returns (default watch 5 s)", ms(med(returned)), "—", "—", "", "≤ 1000 ms", med(returned) <= 1.0)

# 5. No-op deploy.
sh(f"{hop} deploy {app_dir} --app flask-app {wait} >/dev/null 2>&1")
a = [timed(f"{hop} deploy {app_dir} --app flask-app >/dev/null 2>&1") for _ in range(runs)]
row("no-op deploy", ms(med(a)), "—", "—", "", "≤ 100 ms", med(a) <= 0.100)

# 6. Rollback: two generations with different text, `hop rollback --to` the other one.
want_a = change()
gen_a = json.loads(sh(f"{hop} deploy {app_dir} --app flask-app --force {wait} --json 2>/dev/null"))["generation"]
want_b = change()
gen_b = json.loads(sh(f"{hop} deploy {app_dir} --app flask-app --force {wait} --json 2>/dev/null"))["generation"]
served, returned = [], []
for i in range(6):
    target, want = (gen_a, want_a) if i % 2 == 0 else (gen_b, want_b)
    t_served, t_ret = race([hop, "rollback", "flask-app", "--to", str(target)], want)
    served.append(t_served); returned.append(t_ret)
row("rollback → old text served", ms(med(served)), "—", "—", "", "≤ 200 ms", med(served) <= 0.200)
row("rollback command returns", ms(med(returned)), "—", "—", "", "≤ 400 ms", med(returned) <= 0.400)
PY

if [ "${SKIP_SLOW:-0}" != 1 ]; then
  # The other rows come from the benches that own them, run here, parsed from their BENCHROW lines.
  for b in ${SLOW_BENCHES:-nar-bench server-bench deploy-bench backup-bench}; do
    HOP=$HOP bash "bench/$b.sh" 2>&1 | tee "$work/$b.out" | grep -v '^BENCHROW' || true
    grep '^BENCHROW' "$work/$b.out" | cut -f2- >>"$rows" || true
  done
fi

echo
python3 - "$rows" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ["measure", "hop", "floor / peer", "floor / peer figure", "ratio / delta", "goal", "met"]
w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(head)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows: print(line(r))
PY
