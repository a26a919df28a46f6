#!/usr/bin/env bash
# git push → new code answering, on loopback, bounded in time. Prints figures; never fails because
# a machine is slow.
#   push to answer    `git push` (over a real sshd, through hop's forced command and pre-receive
#                     hook) of a one-line change to the Flask fixture, until nginx answers with the
#                     new text; split into receive (until the hook's first line), build (until the
#                     health gate starts), gate (until it passes), switch (until the new generation
#                     serves). The floor in the same run: `hop deploy` of the same kind of change
#                     on the server itself (no git, no ssh), to the same answer.
#   promotion         `hop import` of a bundle exported by another HOP_HOME (the app's own output
#                     deleted from the store first, so it really is imported), then
#                     `hop deploy --build` until the promoted code answers.
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-$PWD/.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
ci=$(mktemp -d /tmp/hop-bench-ci.XXXXXX)
work=$(mktemp -d /tmp/hop-bench-push.XXXXXX)
chmod 755 "$work"
gituser=hopbench$RANDOM
export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
sshd_pid=
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  $HOP host down >/dev/null 2>&1 || true
  userdel "$gituser" >/dev/null 2>&1 || true
  rm -f "/etc/sudoers.d/hop-git-$gituser"
  rm -rf "$home" "$ci" "$work"
}
trap cleanup EXIT
free_port() { local p=$1; while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
port=$(free_port 18580)
sshport=$(free_port 22800)

$HOP seed import busybox patchelf python >/dev/null
$HOP host up --http-port "$port" >/dev/null
$HOP git setup --user "$gituser" --home "$work/git-home" >/dev/null
$HOP user add dev --role deployer --app flask-app >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
$HOP ssh-key add dev "$(cat "$work/key.pub")" >/dev/null
mkdir -p /run/sshd
cat >"$work/sshd_config" <<CONF
Port $sshport
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AllowUsers $gituser
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
CONF
/usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" &
sshd_pid=$!
echo "[127.0.0.1]:$sshport $(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
export GIT_SSH_COMMAND="ssh -i $work/key -p $sshport -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$work/known_hosts"
remote="ssh://$gituser@127.0.0.1:$sshport/flask-app"

cp -R fixtures/apps/flask-app "$work/src"
cd "$work/src"
git init -q -b main && git config user.email b@example.org && git config user.name bench
git add -A && git commit -qm initial
git push -q "$remote" main 2>/dev/null
cd - >/dev/null

python3 - "$work/src" "$remote" "$port" "$ROUNDS" "$HOP" <<'PY'
import http.client, statistics, subprocess, sys, threading, time
src, remote, port, rounds, hop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def answers(text):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/", headers={"Host": "flask-app.localhost"})
        return text in c.getresponse().read().decode()
    except Exception:
        return False

def until_answer(text, t0, out):
    while not answers(text):
        time.sleep(0.005)
    out["answer"] = time.monotonic() - t0

def change(n):
    code = open(src + "/app.py").read().split("\n")
    code = [l if "return" not in l else f'    return "Round {n}\\n"' for l in code]
    open(src + "/app.py", "w").write("\n".join(code))
    subprocess.run(["git", "add", "-A"], cwd=src, check=True)
    subprocess.run(["git", "commit", "-qm", f"round {n}"], cwd=src, check=True)

rows = []
for n in range(1, rounds + 1):
    change(n)
    out = {}
    t0 = time.monotonic()
    poll = threading.Thread(target=until_answer, args=(f"Round {n}", t0, out)); poll.start()
    p = subprocess.Popen(["git", "push", remote, "main"], cwd=src, stderr=subprocess.PIPE, text=True)
    marks = {}
    for line in p.stderr:
        t = time.monotonic() - t0
        if "remote: hop:" in line and "first" not in marks: marks["first"] = t
        if "health gate:" in line and "gate" not in marks: marks["gate"] = t
        if "health gate passed" in line and "gated" not in marks: marks["gated"] = t
        if "serving at" in line or "generation" in line and "serves" in line and "served" not in marks: marks.setdefault("served", t)
    p.wait(); poll.join(timeout=60)
    if p.returncode != 0 or "answer" not in out or len(marks) < 4:
        print(f"round {n}: push failed or incomplete ({p.returncode}, {marks})"); continue
    rows.append((marks["first"], marks["gate"] - marks["first"], marks["gated"] - marks["gate"], marks["served"] - marks["gated"], out["answer"]))
med = lambda i: statistics.median(r[i] for r in rows)
print(f"git push → new code answering, {len(rows)} rounds (median): {med(4):.2f} s")
print(f"  receive {med(0):.2f} s · build {med(1):.2f} s · gate {med(2):.2f} s · switch {med(3):.2f} s  (goal ≤ 1.5 s to the answer)")

# The floor: the same kind of change deployed on the server itself.
floor = []
for n in range(rounds + 1, 2 * rounds + 1):
    change(n)
    out = {}
    t0 = time.monotonic()
    poll = threading.Thread(target=until_answer, args=(f"Round {n}", t0, out)); poll.start()
    subprocess.run([hop, "deploy", src, "--app", "flask-app", "--watch", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    poll.join(timeout=60)
    floor.append(out.get("answer", float("nan")))
print(f"floor, hop deploy on the server to the answer (median of {len(floor)}): {statistics.median(floor):.2f} s")
PY

# Promotion: a build made by another HOP_HOME (a CI runner), imported and served here.
HOP_HOME=$ci $HOP seed import busybox patchelf python >/dev/null
HOP_HOME=$ci $HOP key generate >/dev/null
cp -R fixtures/apps/flask-app "$work/promoted"
sed -i "s/Hello from Flask on hop/Promoted $RANDOM/" "$work/promoted/app.py"
id=$(HOP_HOME=$ci $HOP build "$work/promoted" --app flask-app --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
out=$(HOP_HOME=$ci $HOP show "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outPath"])')
HOP_HOME=$ci $HOP export "$id" -o "$work/app.hopbundle" >/dev/null
HOP_HOME=$ci $HOP key show --pem >"$work/ci.pem"
rm -rf "$ci/gcroots"
nix-store --delete "$out" >/dev/null 2>&1 || true
nix-store --check-validity "$out" 2>/dev/null && echo "note: $out stayed in the store (still referenced); the import below re-hashes it but copies nothing"
$HOP trust add "$work/ci.pem" --name ci >/dev/null
size=$(stat -c %s "$work/app.hopbundle")
t0=$(date +%s.%N)
new=$($HOP import "$work/app.hopbundle" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["build"], d["imported"], d["paths"])')
t1=$(date +%s.%N)
set -- $new
$HOP deploy --build "$1" --watch 0 >/dev/null 2>&1
t2=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$size" "$2" "$3" <<'PY'
import sys
t0, t1, t2, size, imported, paths = map(float, sys.argv[1:7])
print(f"promotion: import {t1 - t0:.2f} s ({int(imported)} of {int(paths)} store paths new, bundle {size / 2**20:.1f} MiB, verified and re-hashed), "
      f"deploy --build {t2 - t1:.2f} s; {t2 - t0:.2f} s from bundle to serving")
PY
