# Unpack each locked npm tarball at its node_modules path (paths and tarballs in the same order).
mkdir -p "$out"
set -- $tarballs
for p in $pkgPaths; do
  mkdir -p "$out/$p"
  tar -xzf "$1" -C "$out/$p" --strip-components=1
  shift
done
