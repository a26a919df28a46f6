#!/usr/bin/env bash
# Build benchmarks for the Flask fixture. Prints figures; never fails because a machine is slow.
#   cold build        nothing of the app, its Python env or the patched toolchain in the store
#   no-op rebuild     hop build of unchanged source, vs the Nix floor for the same expression
#                     (nix-instantiate + nix-store --realise of the already-built derivation)
#   app-code rebuild  one line of app.py changed: only the app derivation rebuilds
#   closure size      of the built app
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
runs=${RUNS:-10}
home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
work=$(mktemp -d /tmp/hop-bench-work.XXXXXX)
trap 'rm -rf "$home" "$work"' EXIT
export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
cp -R fixtures/apps/flask-app "$work/flask-app"
ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.0f} ms')" "$1"; }
now() { date +%s.%N; }
mean_of() { hyperfine --style none --runs "$runs" --export-json "$work/h.json" "$@" >/dev/null 2>&1; python3 -c "import json; r=json.load(open('$work/h.json'))['results'][0]; print(f\"{r['mean']:.4f} {r['stddev'] or 0:.4f}\")"; }

t0=$(now); $HOP seed import busybox patchelf python >/dev/null; t1=$(now)
echo "seed import (busybox, patchelf, python): $(ms "$(echo "$t1 - $t0" | bc)")"

# Make the build cold: delete the patched toolchains and everything built on them (python envs,
# apps), in one call so Nix orders the deletions; it refuses anything a GC root still holds.
cands=$(ls -d /nix/store/*-hop-python /nix/store/*-hop-patchelf 2>/dev/null || true)
if [ -n "$cands" ]; then
  nix-store --delete $(nix-store --query --referrers-closure $cands) >/dev/null 2>&1 || true
fi
cold=yes
for p in /nix/store/*-hop-python /nix/store/*-hop-patchelf /nix/store/*-python3.11-env; do
  [ -e "$p" ] && cold="no ($p is held by a GC root)"
done
t0=$(now); $HOP build "$work/flask-app" >/dev/null 2>&1; t1=$(now)
echo "cold build (flask fixture; cold: $cold): $(ms "$(echo "$t1 - $t0" | bc)")"

read -r hop_mean hop_sd < <(mean_of "$HOP build $work/flask-app")
expr=$home/apps/flask-app/build.nix
read -r nix_mean nix_sd < <(mean_of "nix-store --realise \$(nix-instantiate --option substituters '' $expr 2>/dev/null) --option substituters ''")
echo "no-op rebuild: hop $(ms "$hop_mean") ± $(ms "$hop_sd"); nix floor $(ms "$nix_mean") ± $(ms "$nix_sd"); hop overhead $(ms "$(echo "$hop_mean - $nix_mean" | bc)") (goal ≤ 500 ms)"

total=0
for i in $(seq 1 5); do
  sed -i "s/Hello from Flask on hop[^\\\\]*/Hello from Flask on hop $i$RANDOM/" "$work/flask-app/app.py"
  t0=$(now); $HOP build "$work/flask-app" >/dev/null 2>&1; t1=$(now)
  total=$(echo "$total + $t1 - $t0" | bc)
done
echo "app-code-only rebuild (mean of 5): $(ms "$(echo "$total / 5" | bc -l)")"

$HOP show flask-app --json | python3 -c "import json,sys; b=json.load(sys.stdin); print(f\"closure: {b['pathCount']} paths, {b['closureSize']/1048576:.1f} MiB ({b['closureSize']} bytes)\")"
