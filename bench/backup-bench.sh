#!/usr/bin/env bash
# Backup and restore: hop vs restic and borg, compared in the same run on the same data. Loopback
# only, bounded in time (~3–5 min); never fails because a figure is slow.
#   input          the pg-app fixture (PostgreSQL + Redis addons) deployed as `bk` with a volume
#                  filled with DATA_MIB (1024) MiB: 60% random bytes in a few large files, 40%
#                  generated log text and JSON in thousands of small files; and a ROWS (100,000)
#                  row table in its database. Input size = the state directory + a pg_dump of it.
#   first backup   `hop backup create` (pg_dump -Fc -Z0, pax + zstd 3 + age, fsynced) vs the same
#                  pg_dump followed by the first `restic backup` (0.14, its repository's format and
#                  compression are printed) and the first `borg create` (1.2, repokey, zstd,3) of
#                  the state directory + the dump: time, MiB/s of the input, archive/repository size
#   full restore   `hop backup restore` in place (stops the app, swaps the data, starts it) vs
#                  `restic restore` / `borg extract` of the tree into a scratch directory +
#                  CREATE DATABASE + pg_restore into it: time, MiB/s; each restore is checked (the
#                  volume's files and the table's rows are the same as before the backup)
#   hop vs restic  time ratios: hop's backup at least as fast as restic's first? restore no slower?
# All three read warm data (just written or just read: in the page cache; dropping caches is not
# reliable here) and write to the same disk. hop's archive also holds the Redis addon's dump.
# --self-check: the restic/borg/pg_dump/pg_restore part and the table alone, without hop, against
# Debian's PostgreSQL 15 started in a temp dir, on DATA_MIB=100.
# Each timed step starts after `sync`, so none pays for the write-back of the one before, and no
# restore follows a deletion of tens of thousands of files (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
HOP=${HOP:-.build/release/hop}
self=0; [ "${1:-}" = --self-check ] && self=1
DATA_MIB=${DATA_MIB:-$([ $self = 1 ] && echo 100 || echo 1024)}
ROWS=${ROWS:-100000}
[ $self = 1 ] || [ -x "$HOP" ] || { echo "build hop first: swift build -c release" >&2; exit 2; }
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 2; }
command -v borg >/dev/null || { echo "borg is missing: apt-get install borgbackup" >&2; exit 2; }
for t in bc python3 md5sum; do command -v $t >/dev/null || { echo "$t is missing" >&2; exit 2; }; done
home=""; pgdir=""
work=$(mktemp -d /tmp/hop-bench-work.XXXXXX)
cleanup() {
  if [ $self = 1 ]; then
    [ -z "$pgdir" ] || runuser -u postgres -- "$pg/bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  else
    $HOP host down >/dev/null 2>&1 || true
  fi
  rm -rf "$work" ${home:+"$home"} ${pgdir:+"$pgdir"}
}
trap cleanup EXIT
now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000" | bc -l | xargs printf '%.0f'; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
mib() { echo "$1 / 1048576" | bc -l | xargs printf '%.1f'; }
rate() { echo "$1 / 1048576 / $2" | bc -l | xargs printf '%.1f'; }

if [ $self = 0 ]; then
  home=$(mktemp -d /tmp/hop-bench-home.XXXXXX)
  export HOP_HOME=$home HOP_FIND_LINKS=$PWD/fixtures/wheelhouse
  port=${PORT:-18580}
  while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
  $HOP seed import busybox patchelf python postgres redis >/dev/null
  $HOP host up --http-port "$port" >/dev/null
  pid=$(cat "$home/host/systemd.pid")
  inhost() { nsenter -t "$pid" -m -p "$@"; }
  # The pg-app fixture with a volume (its own, or one added here to the copy).
  cp -R fixtures/apps/pg-app "$work/app"
  vol=$(sed -n '/^\[\[volumes\]\]/,/^\[/ s/^name *= *"\([^"]*\)".*/\1/p' "$work/app/hop3.toml" | head -n1)
  [ -n "$vol" ] || { vol=bench; printf '\n[[volumes]]\nname = "bench"\ntarget = "bench-data"\n' >>"$work/app/hop3.toml"; }
  $HOP deploy "$work/app" --app bk --watch 0 >"$work/deploy.log" 2>&1 || { echo "deploying pg-app failed:" >&2; tail -n 20 "$work/deploy.log" >&2; exit 1; }
  state=/proc/$pid/root/var/lib/private/hop-apps/bk
  inhost test -d "/var/lib/private/hop-apps/bk/volumes/$vol" || { echo "no volume directory $state/volumes/$vol after the deploy" >&2; exit 1; }
  pg=$(readlink "$home/gcroots/addon-postgres")
  sock=/proc/$pid/root/run/hop-addons/postgres
  db=$($HOP addon list --json | python3 -c 'import json, sys
a = [x for x in json.load(sys.stdin) if x["type"] == "postgres" and "bk" in x["attachedTo"]]
print(a[0].get("database", a[0]["name"]) if a else "")')
  [ -n "$db" ] || { echo "no postgres addon attached to bk in \`hop addon list --json\`" >&2; exit 1; }
else
  # A plain PostgreSQL 15 on a unix socket in a temp dir, a role and database like an addon's.
  pg=/usr/lib/postgresql/15
  [ -x "$pg/bin/initdb" ] || { echo "the self-check needs Debian's postgresql-15" >&2; exit 2; }
  pgdir=$(mktemp -d /tmp/hop-bench-pg.XXXXXX); chown postgres: "$pgdir"
  runuser -u postgres -- "$pg/bin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  runuser -u postgres -- "$pg/bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -o "-k $pgdir -c listen_addresses=''" start >/dev/null
  sock=$pgdir db=bk vol=bench state=$work/state
  "$pg/bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d postgres -c 'CREATE ROLE bk LOGIN' -c 'CREATE DATABASE bk OWNER bk'
  "$pg/bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d bk -c 'CREATE EXTENSION pg_trgm'
  mkdir -p "$state/volumes/$vol"
fi
for t in psql pg_dump pg_restore; do [ -x "$pg/bin/$t" ] || { echo "$pg/bin/$t is missing" >&2; exit 2; }; done
psqlq() { "$pg/bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres "$@"; }
voldir=$state/volumes/$vol

# The data: large random files, then log text and JSON records (fixed seed: the same every run).
rand=$((DATA_MIB * 6 / 10)); n=$(((rand + 127) / 128))
mkdir -p "$voldir/blobs"
for i in $(seq 1 $n); do
  size=$((rand / n)); [ "$i" -lt "$n" ] || size=$((rand - (n - 1) * (rand / n)))
  head -c "${size}M" /dev/urandom >"$voldir/blobs/blob-$i.bin"
done
python3 - "$voldir" $((DATA_MIB - rand)) <<'EOF'
import itertools, json, os, random, sys
root, mib = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
syl = "ka ri to mo sa ne lu vi do pe an el or us in qua ber tal sen gor ix um fe ho".split()
words = sorted({"".join(rnd.choices(syl, k=rnd.randint(1, 4))) for _ in range(6000)})
rnd.shuffle(words)
cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(words))))
pool = [" ".join(rnd.choices(words, cum_weights=cum, k=rnd.randint(5, 16))) for _ in range(150000)]
half = mib * 1048576 // 2
os.makedirs(root + "/logs")
done, i = 0, 0
while done < half:
    n = min(4 << 20, half - done)
    k = n // 90 + 1000
    lines = ["2024-05-%02d %02d:%02d:%02d.%03d %s [%s] %s\n" % (1 + i % 28, s // 3600 % 24, s // 60 % 60, s % 60, s * 7 % 1000, lv, c, p)
             for s, lv, c, p in zip(range(k), rnd.choices(["INFO"] * 8 + ["WARN", "ERROR"], k=k),
                                    rnd.choices(["http", "db", "cache", "worker", "auth", "mail"], k=k), rnd.choices(pool, k=k))]
    data = "".join(lines).encode()[:n]
    with open("%s/logs/app-%04d.log" % (root, i), "wb") as f:
        f.write(data)
    done += len(data); i += 1
rest, j = mib * 1048576 - done, 0
while rest > 0:
    d = "%s/records/%03d" % (root, j // 500)
    if j % 500 == 0:
        os.makedirs(d)
    target = min(rest, rnd.randint(512, 16384))
    k = target // 200 + 2
    recs = [json.dumps({"id": j * 100 + x, "user": u, "title": t[:40], "body": b, "tags": rnd.sample(words[:200], 3),
                        "score": rnd.randrange(10000), "created": "2024-05-%02dT%02d:00:00Z" % (1 + j % 28, x % 24)})
            for x, u, t, b in zip(range(k), rnd.choices(words, k=k), rnd.choices(pool, k=k), rnd.choices(pool, k=k))]
    data = ("[\n" + ",\n".join(recs) + "\n]\n").encode()[:target]
    with open("%s/rec-%06d.json" % (d, j), "wb") as f:
        f.write(data)
    rest -= len(data); j += 1
EOF
chown -R --reference="$voldir" "$voldir"
psqlq -d "$db" -c "CREATE TABLE bench_rows AS SELECT g AS id, md5(g::text) AS h, now() AS t, repeat('x', 100) AS pad FROM generate_series(1, $ROWS) g" \
  -c "ALTER TABLE bench_rows OWNER TO \"$db\""
files=$(find "$voldir" -type f | wc -l)
# What a restore must give back: the volume's files (names, sizes, bytes) and the table's rows.
treesum() { (cd "$1" && { find . \( -type f -o -type l \) -printf '%y %P %s %l\n' | LC_ALL=C sort; find . -type f -print0 | LC_ALL=C sort -z | xargs -0r cat; } | md5sum | cut -c1-32); }
dbsum() { psqlq -At -d "$1" -c "SELECT count(*) || ' ' || md5(string_agg(h || t::text || pad, '' ORDER BY id)) FROM bench_rows"; }
want_tree=$(treesum "$voldir"); want_db=$(dbsum "$db")
same() { [ "$(treesum "$1")" = "$want_tree" ] && [ "$(dbsum "$2")" = "$want_db" ] && echo ok || echo DIFFERS; }

export RESTIC_PASSWORD=$(head -c 24 /dev/urandom | base64) BORG_PASSPHRASE=$(head -c 24 /dev/urandom | base64)
export RESTIC_CACHE_DIR=$work/restic-cache BORG_BASE_DIR=$work/borg-base BORG_DISPLAY_PASSPHRASE=no
restic -r "$work/restic" init --quiet >/dev/null
borg init -e repokey "$work/borg" </dev/null >/dev/null 2>&1
rver=$(restic -r "$work/restic" cat config | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
dump() { rm -f "$work/db.pgdump"; "$pg/bin/pg_dump" -Fc -Z0 -h "$sock" -U postgres -d "$db" -f "$work/db.pgdump"; }
# restic and borg archive the state directory by its name from its parent (no /proc/PID/root path
# in the archive) and the dump by its absolute path.
parent=$(dirname "$state") base=$(basename "$state")

# First full backups, hop first (the data was just written: warm for all three).
hb=""
if [ $self = 0 ]; then
  sync; a=$(now); $HOP backup create bk --json >"$work/hop-backup.json" 2>"$work/hop.err" || { echo "hop backup create failed:" >&2; tail -n 20 "$work/hop.err" >&2; exit 1; }; b=$(now)
  hb=$(secs "$a" "$b")
  read -r hid hsize < <(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["id"], d["size"])' "$work/hop-backup.json")
fi
sync; a=$(now); dump; (cd "$parent" && restic -r "$work/restic" backup --quiet "$base" "$work/db.pgdump" >/dev/null) ||
  { [ $? = 3 ] && echo "note: restic could not read some files (exit 3, snapshot incomplete)" >&2; }; b=$(now)
rb=$(secs "$a" "$b")
dumpsize=$(stat -c %s "$work/db.pgdump")
sync; a=$(now); dump; (cd "$parent" && borg create --compression zstd,3 "$work/borg::first" "$base" "$work/db.pgdump" </dev/null) ||
  { [ $? = 1 ] && echo "note: borg create ended with warnings (exit 1)" >&2; }; b=$(now)
bb=$(secs "$a" "$b")
input=$(( $(du -sb "$state" | cut -f1) + dumpsize ))
rsize=$(du -sb "$work/restic" | cut -f1); bsize=$(du -sb "$work/borg" | cut -f1)
rm -f "$work/db.pgdump"

# Full restores: restic and borg into scratch directories and fresh databases, then hop in place
# (after one file and one row are removed, to be seen coming back).
sync; a=$(now)
restic -r "$work/restic" restore latest --target "$work/restic-out" --quiet >/dev/null
psqlq -d postgres -c "CREATE DATABASE bench_restic OWNER \"$db\""
"$pg/bin/pg_restore" -h "$sock" -U postgres --no-owner -d bench_restic "$work/restic-out$work/db.pgdump"
b=$(now); rr=$(secs "$a" "$b")
rok=$(same "$work/restic-out/$base/volumes/$vol" bench_restic)
sync; a=$(now)
mkdir "$work/borg-out"; (cd "$work/borg-out" && borg extract "$work/borg::first" </dev/null)
psqlq -d postgres -c "CREATE DATABASE bench_borg OWNER \"$db\""
"$pg/bin/pg_restore" -h "$sock" -U postgres --no-owner -d bench_borg "$work/borg-out$work/db.pgdump"
b=$(now); br=$(secs "$a" "$b")
bok=$(same "$work/borg-out/$base/volumes/$vol" bench_borg)
hr=""
if [ $self = 0 ]; then
  rm -f "$voldir/records/000/rec-000000.json"; psqlq -d "$db" -c 'DELETE FROM bench_rows WHERE id = 1'
  sync; a=$(now); $HOP backup restore "$hid" --yes >/dev/null 2>"$work/hop.err" </dev/null || { echo "hop backup restore failed:" >&2; tail -n 20 "$work/hop.err" >&2; exit 1; }; b=$(now)
  hr=$(secs "$a" "$b")
  hok=$(same "$voldir" "$db")
  hphases=$( (grep -E "unpacked|loaded addon" "$work/hop.err" || true) | sed 's/^hop: //' | paste -sd ';' -)
  # One read of the archive alone (what a restore that verified first, then unpacked, paid twice).
  sync; a=$(now); $HOP backup verify "$hid" >/dev/null 2>&1 || echo "note: hop backup verify failed" >&2; b=$(now)
  hv=$(secs "$a" "$b")
fi
# The scratch restores are deleted only now: on ext4, files created within a minute or so of a mass
# deletion pay for it (the inode allocator skips recently deleted inodes, one by one), so deleting
# restic's output before borg's restore and both before hop's would slow the later tools alone.
rm -rf "$work/restic-out" "$work/borg-out"

echo "input: $(mib "$input") MiB = state directory ($files files in the volume: 60% random, 40% text/JSON) + pg_dump -Fc -Z0 of $ROWS rows ($(mib "$dumpsize") MiB); warm in the page cache for all three"
echo "restic $(restic version | cut -d' ' -f2): repository format v$rver$([ "$rver" = 1 ] && echo ', no compression' || echo ', compression auto (zstd, fastest level)'); borg $(borg --version | cut -d' ' -f2): repokey, zstd,3; hop: zstd 3 + age"
row() { printf '%-8s %9s %8s %10s %10s %8s  %s\n' "$@"; }
row tool "backup s" "MiB/s" "size MiB" "restore s" "MiB/s" "restored"
if [ $self = 0 ]; then row hop "$hb" "$(rate "$input" "$hb")" "$(mib "$hsize")" "$hr" "$(rate "$input" "$hr")" "$hok (in place, app restarted)"
else row hop - - - - - "(self-check: no hop)"; fi
row restic "$rb" "$(rate "$input" "$rb")" "$(mib "$rsize")" "$rr" "$(rate "$input" "$rr")" "$rok (scratch dir + new database)"
row borg "$bb" "$(rate "$input" "$bb")" "$(mib "$bsize")" "$br" "$(rate "$input" "$br")" "$bok (scratch dir + new database)"
[ $self = 0 ] && echo "hop restore, inside: one read of the archive (file hash, age, every checksum, signature checked while unpacking into staging): $hphases; then stop, swap, start (health-gated); hop backup verify (one read, nothing written): $hv s"
if [ $self = 0 ]; then
  le() { [ "$(echo "$1 <= $2" | bc -l)" = 1 ] && echo yes || echo no; }
  echo "hop vs restic: backup time ratio $(echo "$hb / $rb" | bc -l | xargs printf '%.2f') (hop/restic), at least as fast as restic's first backup: $(le "$hb" "$rb"); restore time ratio $(echo "$hr / $rr" | bc -l | xargs printf '%.2f'), no slower than restic's restore: $(le "$hr" "$rr")"
  printf 'BENCHROW\trestore of %s MiB + %s-row table\t%.1f s\trestic restore + pg_restore\t%.1f s\t%.2f×\t≤ 1.0×\t%s\n' \
    "$DATA_MIB" "$ROWS" "$hr" "$rr" "$(echo "$hr / $rr" | bc -l)" "$(le "$hr" "$rr")"
fi
