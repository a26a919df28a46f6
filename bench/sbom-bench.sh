#!/usr/bin/env bash
# SBOM generation on a synthetic closure of N (default 1000) store paths, against the floor of
# just querying that closure from Nix (nix-store -qR + nix path-info --json -r). Prints figures;
# never fails because a machine is slow. The first run builds N tiny derivations (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
n=${PATHS:-1000}
runs=${RUNS:-5}
home=$(mktemp -d /tmp/hop-sbom-bench-home.XXXXXX)
work=$(mktemp -d /tmp/hop-sbom-bench-work.XXXXXX)
trap 'rm -rf "$home" "$work"' EXIT
export HOP_HOME=$home
$HOP seed import busybox patchelf >/dev/null 2>&1

app=$work/synthetic
mkdir -p "$app"
printf 'worker: sleep infinity\n' > "$app/Procfile"
cat > "$app/default.nix" <<NIX
# $n derivations; each refers to the previous one and to one at half its index, so the top
# output's runtime closure holds all of them.
{ hop, src, name, version }:
let
  n = $n;
  mk = i: hop.mkDerivation {
    name = "synthetic-\${toString i}";
    script = builtins.toFile "synthetic.sh" "mkdir \$out; echo \$i > \$out/i; for d in \$deps; do echo \$d >> \$out/refs; done";
    i = toString i;
    deps = if i == 0 then [ ] else [ (builtins.elemAt drvs (i - 1)) (builtins.elemAt drvs (i / 2)) ];
  };
  drvs = builtins.genList mk n;
in builtins.elemAt drvs (n - 1)
NIX
t0=$(date +%s.%N)
$HOP build "$app" --json > "$work/build.json"
t1=$(date +%s.%N)
out=$(python3 -c "import json; print(json.load(open('$work/build.json'))['outPath'])")
count=$(nix-store -qR "$out" | wc -l)
echo "synthetic closure: $count store paths (built and recorded in $(echo "$t1 - $t0" | bc) s)"

hyperfine --style none --runs "$runs" --export-json "$work/h.json" \
  -n floor "nix-store -qR $out >/dev/null && nix --extra-experimental-features nix-command path-info --json -r $out >/dev/null" \
  -n cyclonedx "$HOP sbom synthetic -o $work/s.cdx.json" \
  -n spdx "$HOP sbom synthetic --format spdx -o $work/s.spdx.json" >/dev/null 2>&1
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
floor = r["floor"]["mean"]
print(f"floor (nix-store -qR + nix path-info --json -r): {floor*1000:.0f} ms")
for k in ("cyclonedx", "spdx"):
    m = r[k]["mean"]
    print(f"hop sbom --format {k}: {m*1000:.0f} ms ± {r[k]['stddev']*1000:.0f} ms = {m/floor:.2f}x the floor (goal <= 1.5x)")
PY
ls -l "$work"/s.cdx.json "$work"/s.spdx.json | awk '{print $5, $9}'
