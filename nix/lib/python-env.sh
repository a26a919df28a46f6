# A Python environment as a venv: the toolchain's interpreter plus locked wheels, installed
# offline from fixed-output inputs. Independent of app code, so a code change never rebuilds it.
mkdir -p "$out/bin"
ln -s "$python/bin/python$pythonVersion" "$out/bin/python$pythonVersion"
ln -s "python$pythonVersion" "$out/bin/python3"
ln -s "python$pythonVersion" "$out/bin/python"
printf 'home = %s/bin\ninclude-system-site-packages = false\nversion = %s\n' "$python" "$pythonVersion" > "$out/pyvenv.cfg"
mkdir -p "$out/lib/python$pythonVersion/site-packages"
PYTHONDONTWRITEBYTECODE=1 "$python/bin/python$pythonVersion" -I "$installer" "$out" "$pythonVersion" $wheels
# Bytecode now, not at every start: the store is read-only, so without this each process start
# compiles every imported module again (~0.6 s for Flask + gunicorn). unchecked-hash pycs do not
# depend on mtimes, and marshal output for the same sources and interpreter is deterministic.
"$python/bin/python$pythonVersion" -I -B -m compileall -f -q -o 0 --invalidation-mode unchecked-hash \
  "$out/lib/python$pythonVersion/site-packages" >/dev/null \
  || echo "hop: some modules did not compile to bytecode; Python compiles them when imported"
