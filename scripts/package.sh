#!/usr/bin/env bash
# Installs hop as a program, or builds its Debian package, from an already built tree.
#
#   scripts/package.sh install [--config release|debug] [--prefix /usr/local] [--destdir DIR]
#   scripts/package.sh deb     [--config release|debug] [--version V] [--out FILE.deb] [--fast]
#
# The layout (PREFIX is /usr for the package):
#   PREFIX/bin/hop                       the binary, RUNPATH $ORIGIN/../lib/hop
#   PREFIX/lib/hop/*.so                  the Swift runtime it links (Debian has none)
#   PREFIX/share/hop/nix/                hop's Nix library (found from the resolved executable)
#   PREFIX/share/man/man1/hop*.1         man pages generated from the commands
#   PREFIX/share/{bash-completion,zsh,fish}/…  completions (app, addon and backup names included)
#   /lib/systemd/system/hop.service      (package only) brings the service host and its apps up at boot
#
# The Swift runtime is copied rather than linked statically: `--static-swift-stdlib` rebuilds the
# whole tree (5.5 min here) and needs FoundationNetworking's curl linked by hand; copying the
# shared libraries the binary already uses costs seconds and changes nothing in the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

mode=${1:-}; shift || true
config=release prefix=/usr/local destdir="" version="" out="" fast=0
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fast) fast=1; shift ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$mode" in install|deb) ;; *) echo "usage: scripts/package.sh install|deb [options]" >&2; exit 2 ;; esac
case "$config" in release|debug) ;; *) echo "package.sh: --config is release or debug, not $config" >&2; exit 2 ;; esac

bin=.build/$config/hop
[ -x "$bin" ] || { echo "package.sh: $bin is not built; run \`swift build -c $config\` first" >&2; exit 2; }
[ -x .build/debug/generate-manual ] || swift build --product generate-manual >/dev/null

# stage ROOT PREFIX: the whole installed tree under ROOT/PREFIX.
stage() {
  local root=$1 pfx=$2 dest
  dest=$root$pfx
  install -d -m 0755 "$dest/bin" "$dest/lib/hop" "$dest/share/hop" "$dest/share/man/man1" \
    "$dest/share/bash-completion/completions" "$dest/share/zsh/vendor-completions" "$dest/share/fish/vendor_completions.d"
  install -m 0755 "$bin" "$dest/bin/hop"
  strip --strip-unneeded "$dest/bin/hop"
  # The Swift runtime libraries the binary resolves under the toolchain, nothing else.
  ldd "$bin" | awk '$3 ~ /^\/opt\/swift\// {print $3}' | sort -u | while read -r lib; do
    install -m 0644 "$lib" "$dest/lib/hop/"
  done
  patchelf --set-rpath '$ORIGIN/../lib/hop' "$dest/bin/hop"
  if ldd "$dest/bin/hop" | grep -q 'not found\|/opt/swift'; then
    echo "package.sh: the staged binary still needs the toolchain:" >&2; ldd "$dest/bin/hop" | grep 'not found\|/opt/swift' >&2; exit 1
  fi
  rm -rf "$dest/share/hop/nix"; cp -r nix "$dest/share/hop/nix"
  find "$dest/share/hop/nix" -type d -exec chmod 0755 {} +; find "$dest/share/hop/nix" -type f -exec chmod 0644 {} +
  find "$dest/share/hop/nix" -name '*.sh' -exec chmod 0755 {} +
  "$dest/bin/hop" --generate-completion-script bash >"$dest/share/bash-completion/completions/hop"
  "$dest/bin/hop" --generate-completion-script zsh >"$dest/share/zsh/vendor-completions/_hop"
  "$dest/bin/hop" --generate-completion-script fish >"$dest/share/fish/vendor_completions.d/hop.fish"
  rm -f "$dest"/share/man/man1/hop*.1*
  .build/debug/generate-manual "$dest/bin/hop" --multi-page --output-directory "$dest/share/man/man1" \
    --date "$(git log -1 --format=%cs 2>/dev/null || date +%F)" >/dev/null
  # The private host replaces /tmp: the installed binary must not depend on anything there.
  "$dest/bin/hop" --version >/dev/null
}

if [ "$mode" = install ]; then
  stage "$destdir" "$prefix"
  echo "installed hop $("$destdir$prefix/bin/hop" --version) in $destdir$prefix (bin/hop, lib/hop, share/hop/nix, man pages, completions)"
  exit 0
fi

# The Debian package.
source_version=$(sed -n 's/^public let hopVersion = "\(.*\)"/\1/p' Sources/HopBasics/HopHome.swift)
version=${version:-$source_version-1}
out=${out:-.build/hop_${version}_amd64.deb}
work=$(mktemp -d /tmp/hop-deb.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
root=$work/root
stage "$root" /usr
gzip -9n "$root"/usr/share/man/man1/*.1
install -d -m 0755 "$root/DEBIAN" "$root/lib/systemd/system" "$root/usr/share/doc/hop"
install -m 0644 scripts/package/hop.service "$root/lib/systemd/system/hop.service"
install -m 0755 scripts/package/postinst "$root/DEBIAN/postinst"
install -m 0644 README.md "$root/usr/share/doc/hop/README.md"
# Depends: the Debian packages owning every system library the binary loads, and the tools hop runs.
libdeps=$(ldd "$root/usr/bin/hop" | awk '$3 ~ /^\// && $3 !~ /\/lib\/hop\// {print $3}' | while read -r lib; do
  real=$(readlink -f "$lib"); dpkg -S "$real" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || true
done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: hop
Version: $version
Architecture: amd64
Maintainer: hop developers <hop@localhost>
Installed-Size: $size
Depends: $libdeps, nix-bin (>= 2.8), nginx | nginx-light, systemd, patchelf, busybox-static, git
Recommends: openssh-server, postgresql-15, redis-server, mariadb-server
Section: admin
Priority: optional
Homepage: https://github.com/hop3-project/hop
Description: self-hosted platform-as-a-service whose every release is a Nix closure
 hop builds web apps (Python, Node, Go, PHP, Ruby, static) into locked, sandboxed,
 reproducible Nix closures with SBOMs and signed provenance, and runs them behind
 nginx with health-gated, instantly reversible deploys, addons, volumes, secrets
 and backups, from a CLI, an HTTP API, a dashboard or git push.
EOF
compress=(-Zxz)
[ "$fast" = 1 ] && compress=(-Zgzip -z1)
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$out" >/dev/null
echo "built $out (hop $version, $(du -h "$out" | cut -f1))"
