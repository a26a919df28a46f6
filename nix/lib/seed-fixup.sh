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
