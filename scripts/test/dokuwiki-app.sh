#!/bin/sh
# Turns Debian's dokuwiki package (and the packages it depends on for its libraries) into a hop app
# directory: DEBDIR OUT, where DEBDIR holds dokuwiki_*.deb, php-phpseclib, libphp-simplepie,
# php-geshi, libjs-jquery, libjs-jquery-cookie and libjs-jquery-ui (scripts/setup.sh downloads them).
# Debian spreads DokuWiki over /usr/share/dokuwiki (code), /etc/dokuwiki (config) and
# /var/lib/dokuwiki (data, templates, plugins) with absolute symlinks between them. A hop app is
# one tree: the code, conf/ beside it (DOKU_CONF points there instead of /etc), the templates and
# plugins in place, and the page data copied into the app's state directory by a release step on
# first deploy (savedir = $STATE_DIRECTORY/data). Nothing of DokuWiki's own code is changed but
# Debian's preload.php, which hard-codes /etc/dokuwiki, and the absolute /usr/share/{php,javascript}
# paths Debian's unbundling put in, which point into the app's deps/ instead (relative to each file).
set -eu
debs=$1 out=$2
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$raw"; done
mkdir -p "$out"
cp -R "$raw/usr/share/dokuwiki/." "$out/"
rm -f "$out/.htaccess" "$out/lib/tpl" "$out/lib/plugins"
cp -R "$raw/var/lib/dokuwiki/lib/tpl" "$out/lib/tpl"
cp -R "$raw/var/lib/dokuwiki/lib/plugins" "$out/lib/plugins"
mkdir -p "$out/conf"
for f in "$raw/etc/dokuwiki/"*; do
  [ -L "$f" ] || cp -R "$f" "$out/conf/"
done
cp "$raw/var/lib/dokuwiki/acl/"* "$out/conf/" 2>/dev/null || true
cp -R "$raw/var/lib/dokuwiki/data" "$out/data-skel"
mkdir -p "$out/deps"
cp -RL "$raw/usr/share/php" "$out/deps/php" 2>/dev/null || true  # (dangling links to libraries DokuWiki bundles)
cp -RL "$raw/usr/share/javascript" "$out/deps/javascript"
cp -RL "$raw/usr/share/php-geshi" "$out/deps/php-geshi"
python3 - "$out" <<'PY'
import os, re, sys
root = sys.argv[1]
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".php"):
            continue
        p = os.path.join(d, f)
        t = open(p, encoding="utf-8", errors="surrogateescape").read()
        if "/usr/share/" not in t:
            continue
        rel = os.path.relpath(root, d)
        t = t.replace("$vendorDir . '/usr/share/php/", "$vendorDir . '/../deps/php/")
        t = re.sub(r"(['\"])/usr/share/(php|javascript|php-geshi)/", lambda m: "__DIR__ . " + m.group(1) + "/" + rel + "/deps/" + m.group(2) + "/", t)
        open(p, "w", encoding="utf-8", errors="surrogateescape").write(t)
PY
cat > "$out/inc/preload.php" <<'PHP'
<?php
// hop: the configuration lives in the app tree (conf/), not in /etc/dokuwiki.
if (!defined('DOKU_CONF')) define('DOKU_CONF', dirname(__DIR__) . '/conf/');
PHP
cat > "$out/conf/local.php" <<'PHP'
<?php
// hop: pages, media, cache and locks live in the app's state directory.
$conf['savedir'] = getenv('STATE_DIRECTORY') . '/data';
$conf['title'] = 'DokuWiki on hop';
PHP
cat > "$out/Procfile" <<'PROC'
php: .
release: [ -d "$STATE_DIRECTORY/data/pages" ] || { mkdir -p "$STATE_DIRECTORY/data" && cp -R data-skel/. "$STATE_DIRECTORY/data/" && chmod -R u+w "$STATE_DIRECTORY/data"; }
PROC
cat > "$out/hop3.toml" <<'TOML'
[metadata]
title = "DokuWiki (Debian's package)"

[build]
builder = "php"

[php]
deny = ["data", "data-skel", "conf", "bin", "inc", "vendor"]
extensions = ["xml", "mbstring", "gd", "intl", "opcache"]

[php.ini]
upload_max_filesize = "8M"

[healthcheck]
path = "/doku.php"
contains = "DokuWiki on hop"
TOML
chmod -R a+rX "$out"
echo "$out"
