# Copy an imported seed and make it self-contained: interpreter = the seed's own loader,
# rpath = the seed's own lib/. Runs in the sandbox with busybox only.
cp -RP "$raw/." "$out/"
chmod -R u+w "$out"
loader="$out/lib/ld-linux-x86-64.so.2"
if [ -n "$patchelf" ]; then
  pe() { "$patchelf/bin/patchelf" "$@"; }
else
  # patchelf itself: run the untouched raw copy through the raw loader and libraries, so no file
  # being patched is mapped by the running process (that ends in SIGBUS).
  pe() { "$raw/lib/ld-linux-x86-64.so.2" --library-path "$raw/lib" "$raw/bin/patchelf" "$@"; }
fi
[ -e "$loader" ] || { echo "seed has no lib/ld-linux-x86-64.so.2; nothing to patch" >&2; exit 0; }
find "$out" -type f | sort > "$TMPDIR/files"
n=0
while IFS= read -r f; do
  [ "$(head -c 4 "$f" | tail -c 3)" = "ELF" ] || continue
  case "$f" in "$loader") continue ;; esac
  if grep -q "Go build ID" "$f" && pe --print-interpreter "$f" >/dev/null 2>&1; then
    # patchelf 0.14 corrupts Go binaries when it adds an rpath (SIGSEGV at start); point each
    # needed library at its absolute path in the seed instead.
    set -- --set-interpreter "$loader"
    for lib in $(pe --print-needed "$f"); do set -- "$@" --replace-needed "$lib" "$out/lib/$lib"; done
    pe "$@" "$f"
    n=$((n + 1))
  elif pe --print-interpreter "$f" >/dev/null 2>&1; then
    pe --set-interpreter "$loader" --set-rpath "$out/lib" "$f"
    n=$((n + 1))
  elif pe --print-rpath "$f" >/dev/null 2>&1; then
    pe --set-rpath "$out/lib" "$f"
    n=$((n + 1))
  fi
done < "$TMPDIR/files"
echo "seed-fixup: patched $n ELF files in $out"

# Python: the standard library's bytecode now. At run time the store is read-only to apps, so
# without it every process start compiles each stdlib module it imports again (and a store Python
# run as root outside the sandbox would write __pycache__ into the store, changing its NAR hash).
# unchecked-hash pycs do not depend on mtimes; compiling the same sources with the same interpreter
# gives the same bytes. -B: the compiling interpreter must not write its own (mtime-stamped) pycs
# on import, which compileall would then keep; -f rewrites them all. Tests and GUI modules are left out.
for py in "$out"/bin/python3.[0-9]*; do
  case "$py" in *-config | *m) continue ;; esac
  [ -x "$py" ] || continue
  lib="$out/lib/${py##*/}"
  [ -d "$lib" ] || continue
  "$py" -I -B -m compileall -f -q -o 0 --invalidation-mode unchecked-hash \
    -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|site-packages)/' "$lib" >/dev/null \
    || echo "seed-fixup: some modules of $lib did not compile to bytecode"
  echo "seed-fixup: compiled the standard library in $lib"
done
