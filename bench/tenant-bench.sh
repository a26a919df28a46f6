#!/usr/bin/env bash
# What handling tenant input unprivileged costs, against a floor measured in the same run. Prints
# figures; never fails because a machine is slow.
#   sandbox entry    unshare (mount, PID, IPC, UTS, net) + tmpfs over hop's state + setpriv to a
#                    throwaway uid, running /bin/true, vs /bin/true alone
#   lock             `hop lock` of the Flask fixture (pip's resolver in the sandbox, from the
#                    wheelhouse) vs the same pip command run directly as root (the floor)
#   link scan        `hop check` of a tree of 10,000 files and 2,000 symbolic links (every link
#                    resolved) vs `find -type l` listing the same links (the floor)
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing: run scripts/setup.sh" >&2; exit 2; }
runs=${RUNS:-10}
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
work=$(mktemp -d /tmp/hop-bench-work.XXXXXX)
trap 'rm -rf "$home" "$work"' EXIT
export HOP_HOME=$home
wheels=$PWD/fixtures/wheelhouse
mean_ms() { hyperfine --style none --runs "$runs" --warmup 1 --export-json "$work/h.json" "$@" >/dev/null 2>&1
            python3 -c "import json; r=json.load(open('$work/h.json'))['results']; print(' / '.join(f\"{x['mean']*1000:.1f} ms ±{(x['stddev'] or 0)*1000:.1f}\" for x in r))"; }

box=/var/lib/hop-sandbox/bench-$$
mkdir -p "$box/work"
script='box=$1; id=$2; shift 2; mount -t tmpfs -o size=64k hop-hidden "$HOP_HOME"; mount -t tmpfs -o size=64k hop-hidden /root; cd "$box/work"; exec setpriv --reuid="$id" --regid="$id" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"'
echo "sandbox entry (sandboxed true / plain true): $(mean_ms "unshare --mount --pid --fork --ipc --uts --net --mount-proc --propagation private --kill-child -- /bin/sh -euc '$script' sh $box 3000012345 /bin/true" /bin/true)"
rm -rf "$box"

cp -R fixtures/apps/flask-app "$work/flask"
python3.11 - "$work/req.txt" <<'EOF'
import sys
open(sys.argv[1], "w").write("flask\ngunicorn\n")
EOF
floor="/usr/bin/python3.11 -I -m pip install --dry-run --ignore-installed --quiet --disable-pip-version-check --no-input --no-cache-dir --report - --prefer-binary --no-index --find-links $wheels -r $work/req.txt"
echo "lock of the Flask fixture (hop lock, sandboxed / pip directly as root): $(mean_ms "$HOP lock $work/flask --find-links $wheels" "$floor")"

mkdir -p "$work/tree/app"
printf 'web: python3 -m http.server $PORT\n' > "$work/tree/Procfile"
: > "$work/tree/requirements.txt"
python3 - "$work/tree/app" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(100):
    p = os.path.join(root, f"pkg{d}")
    os.makedirs(p)
    for f in range(100):
        open(os.path.join(p, f"m{f}.py"), "w").write("x = 1\n")
    for l in range(20):
        os.symlink(f"m{l}.py", os.path.join(p, f"link{l}.py"))
EOF
echo "link scan, 10,000 files + 2,000 links (hop check / find -type l): $(mean_ms "$HOP check $work/tree --app bench-tree" "find $work/tree -type l")"
