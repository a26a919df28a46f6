# A Python environment as a venv: the toolchain's interpreter plus locked wheels, installed
# offline from fixed-output inputs. Independent of app code, so a code change never rebuilds it.
mkdir -p "$out/bin"
ln -s "$python/bin/python$pythonVersion" "$out/bin/python$pythonVersion"
ln -s "python$pythonVersion" "$out/bin/python3"
ln -s "python$pythonVersion" "$out/bin/python"
printf 'home = %s/bin\ninclude-system-site-packages = false\nversion = %s\n' "$python" "$pythonVersion" > "$out/pyvenv.cfg"
mkdir -p "$out/lib/python$pythonVersion/site-packages"
# sdists (packages published without a wheel) become wheels first, built offline with the locked
# setuptools; everything is then installed the same way.
install=""
for w in $wheels; do
  case "$w" in
    *.tar.gz|*.zip)
      [ -n "${sdistBuilder:-}" ] || { echo "hop: $w is an sdist but no build requirements were locked" >&2; exit 1; }
      mkdir -p "$TMPDIR/built"
      install="$install $(SOURCE_DATE_EPOCH=315532800 PYTHONDONTWRITEBYTECODE=1 "$python/bin/python$pythonVersion" -I "$sdistBuilder" "$w" "$TMPDIR/built" $buildWheels)" ;;
    *) install="$install $w" ;;
  esac
done
PYTHONDONTWRITEBYTECODE=1 "$python/bin/python$pythonVersion" -I "$installer" "$out" "$pythonVersion" $install
# Bytecode now, not at every start: the store is read-only, so without this each process start
# compiles every imported module again (~0.6 s for Flask + gunicorn). unchecked-hash pycs do not
# depend on mtimes, and marshal output for the same sources and interpreter is deterministic.
"$python/bin/python$pythonVersion" -I -B -m compileall -f -q -o 0 --invalidation-mode unchecked-hash \
  "$out/lib/python$pythonVersion/site-packages" >/dev/null \
  || echo "hop: some modules did not compile to bytecode; Python compiles them when imported"
