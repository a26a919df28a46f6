#!/usr/bin/env bash
# NAR hashing throughput: hop's Swift implementation vs `nix hash path`, on the same tree in the
# same run. Prints figures; never fails because a machine is slow.
#   tree   ≥ 50 MB: a few big files, thousands of small ones in nested directories, symlinks
#   MB/s   NAR bytes / mean wall time (hyperfine, warm page cache), so both sides do equal work
#   ratio  Swift throughput / Nix throughput (goal ≥ 1.0 in release builds)
#   limit  SHA-256 on this machine (`openssl speed -evp sha256`, 16 KB blocks), measured in the same
#          run: hop's hashing vs that (goal ≥ 0.8), both end to end (the whole command, process
#          start-up included) and net of start-up (minus `hop nar-hash` of an empty file)
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-$PWD/.build/release/hop}
[ -x "$HOP" ] || { echo "build hop first: swift build -c release (or set HOP=...)" >&2; exit 2; }
runs=${RUNS:-5}
work=$(mktemp -d /tmp/hop-nar-bench.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
tree=$work/tree

python3 - "$tree" <<'EOF'
import os, sys, random
root = sys.argv[1]
rng = random.Random(42)
os.makedirs(root)
# Big files: 3 x 8 MB + 4 MB + 1 executable of 3 MB.
for i, size in enumerate([8 << 20, 8 << 20, 8 << 20, 4 << 20]):
    with open(f"{root}/big-{i}.bin", "wb") as f:
        f.write(rng.randbytes(size))
with open(f"{root}/tool", "wb") as f:
    f.write(rng.randbytes(3 << 20))
os.chmod(f"{root}/tool", 0o755)
# Small files: 6000 across 60 directories, 0 B to 8 KiB (about 24 MB), some executable.
for d in range(60):
    sub = f"{root}/lib/pkg-{d:02d}/src" if d % 3 else f"{root}/share/doc-{d:02d}"
    os.makedirs(sub)
    for i in range(100):
        p = f"{sub}/file-{i:03d}.{'py' if i % 2 else 'txt'}"
        with open(p, "wb") as f:
            f.write(rng.randbytes(rng.randint(0, 8192)))
        if i % 17 == 0:
            os.chmod(p, 0o755)
    # Symlinks: relative, absolute, dangling.
    for i in range(10):
        os.symlink(f"file-{i:03d}.py", f"{sub}/link-{i}")
    os.symlink("/etc/hostname", f"{sub}/abs-link")
    os.symlink("nowhere", f"{sub}/dangling")
EOF

nix_hash() { nix --extra-experimental-features nix-command hash path --type sha256 --base32 "$1"; }
read -r swift_hash nar_size < <("$HOP" nar-hash "$tree" 2>/dev/null) || true
[ -n "${nar_size:-}" ] || { echo "$HOP has no working nar-hash command; rebuild it (swift build -c release)" >&2; exit 2; }
nix_out=$(nix_hash "$tree")
files=$(find "$tree" -type f | wc -l); links=$(find "$tree" -type l | wc -l)
echo "tree: $(du -sm "$tree" | cut -f1) MB on disk, $files files, $links symlinks, NAR $(echo "scale=1; $nar_size / 1000000" | bc) MB"
if [ "$swift_hash" = "sha256:$nix_out" ]; then echo "hashes agree: $swift_hash"; else echo "HASHES DIFFER: swift $swift_hash, nix sha256:$nix_out"; fi

: > "$work/empty"
limit=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null | awk '/^sha256/ {sub("k", "", $2); print $2 * 1000}')
hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/h.json" \
  -n swift "$HOP nar-hash $tree" \
  -n start-up "$HOP nar-hash $work/empty" \
  -n nix "nix --extra-experimental-features nix-command hash path --type sha256 --base32 $tree" >/dev/null 2>&1 || {
  echo "hyperfine failed; no figures"; exit 0; }
python3 - "$work/h.json" "$nar_size" "${limit:-0}" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
size = int(sys.argv[2])
limit = float(sys.argv[3]) / 1e6
rate = {}
for name in ("swift", "nix"):
    r = results[name]
    rate[name] = size / r["mean"] / 1e6
    print(f"{name:>5}: {r['mean'] * 1000:7.1f} ms ± {(r['stddev'] or 0) * 1000:5.1f} ms  {rate[name]:7.1f} MB/s")
print(f"ratio swift/nix: {rate['swift'] / rate['nix']:.2f}x (goal >= 1.0)")
startup = results["start-up"]["mean"]
net = size / max(results["swift"]["mean"] - startup, 1e-9) / 1e6
print(f"hop start-up (nar-hash of an empty file): {startup * 1000:.1f} ms; hashing net of it: {net:.1f} MB/s")
if limit > 0:
    print(f"SHA-256 limit (openssl speed -evp sha256, 16 KB blocks): {limit:.1f} MB/s; "
          f"hop/limit: {rate['swift'] / limit:.2f}x end to end, {net / limit:.2f}x net of start-up (goal >= 0.8)")
    print(f"BENCHROW\tNAR hashing ({size / 1e6:.0f} MB tree)\t{rate['swift']:.0f} MB/s ({net:.0f} net of start-up)\tSHA-256 limit (openssl speed)\t{limit:.0f} MB/s\t{rate['swift'] / limit:.2f}× ({net / limit:.2f}× net)\t≥ 0.8×\t{'yes' if rate['swift'] / limit >= 0.8 else 'no'}")
EOF
