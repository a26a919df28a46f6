#!/usr/bin/env bash
# Idempotent machine set-up for hop on Debian 12, as root.
# Installs what hop needs by apt, configures Nix (sandbox on, no unreachable
# substituters) and puts test-only Python tools in an isolated venv.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

log() { printf 'setup: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "setup: run as root (hop manages /nix and /var/lib/hop)" >&2; exit 2; }

pkgs=(nix-bin libarchive-dev libsqlite3-dev libcurl4-openssl-dev sqlite3 busybox-static patchelf git
      python3 python3-venv python3-pip golang-go nodejs ca-certificates hyperfine bc curl
      wrk procps systemd util-linux iproute2 chromium chromium-driver
      age rclone zstd restic borgbackup openssh-client sudo lego pebble ruby3.1 bundler)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Server packages whose host service must not start when installed: hop runs nginx in its own
# service host, and imports PostgreSQL, Redis and MariaDB as seeds for its own addon servers.
# policy-rc.d exiting 101 means "do not start services" (removed again if this script made it).
install_without_starting() { # package-to-check, packages…
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
  log "apt installing: $* (not started)"
  local guard=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
  [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}
install_without_starting nginx
# PostgreSQL must not create a cluster either (postgresql-common reads createcluster.d).
mkdir -p /etc/postgresql-common/createcluster.d
printf 'create_main_cluster = false\n' > /etc/postgresql-common/createcluster.d/hop.conf
install_without_starting postgresql-15 postgresql-client-15
install_without_starting redis-server redis-tools
install_without_starting mariadb-server mariadb-client
# sshd for the SFTP backup target tests (the tests start their own on loopback).
install_without_starting openssh-server
# Prometheus, to prove an operator's Prometheus scrapes hop's /metrics (the test runs its own).
install_without_starting prometheus
# PHP 8.2 (the php seed: CLI, PHP-FPM, the common extensions), never started on the host; composer
# only to regenerate fixtures.
install_without_starting php8.2-fpm php8.2-cli php8.2-fpm php8.2-mbstring php8.2-xml php8.2-gd php8.2-intl php8.2-zip \
  php8.2-sqlite3 php8.2-pgsql php8.2-mysql php8.2-curl php8.2-opcache php8.2-bcmath
# Debian's DokuWiki and the libraries it is unbundled into, as .deb files only (the PHP test builds
# an app from them; installing them would pull in a web server).
debs=/var/cache/hop-test/debs
if ! ls "$debs"/dokuwiki_*.deb >/dev/null 2>&1; then
  log "downloading Debian's dokuwiki and its libraries into $debs"
  mkdir -p "$debs" && chmod 755 /var/cache/hop-test "$debs"
  (cd "$debs" && apt-get download dokuwiki php-phpseclib libphp-simplepie php-geshi libjs-jquery libjs-jquery-cookie libjs-jquery-ui 2>/dev/null >/dev/null)
fi

# Nix: sandbox always on, no binary cache (none is reachable air-gapped).
mkdir -p /etc/nix
conf=/etc/nix/nix.conf
want=$'# managed by hop scripts/setup.sh\nbuild-users-group = nixbld\nsandbox = true\nsubstituters =\nexperimental-features = nix-command\nmax-jobs = auto\ncores = 0\nkeep-outputs = false\n'
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "${want%$'\n'}" ]; then
  printf '%s' "$want" > "$conf"; log "wrote $conf"
fi
# nixbld group and users (Debian's nix-bin ships nix-setup-systemd but not on non-systemd hosts).
getent group nixbld >/dev/null || groupadd -r nixbld
for i in $(seq 1 8); do
  id "nixbld$i" >/dev/null 2>&1 || useradd -r -g nixbld -G nixbld -d /var/empty -s /usr/sbin/nologin -c "Nix build user $i" "nixbld$i"
done
mkdir -p /nix/var/nix/gcroots /nix/var/nix/profiles

# Test-only Python tools, isolated.
venv="$here/.venv-test"
if [ ! -x "$venv/bin/python" ]; then
  log "creating test venv $venv"
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/scripts/test-requirements.txt"

# Swift toolchain on PATH.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  log "swift is at /opt/swift/usr/bin (add it to PATH)"
fi
log "ok"
