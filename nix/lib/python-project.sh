# The app is a Python package (pyproject.toml with [project] and [build-system]): build its wheel
# offline with the locked setuptools and install it into $out/site, its console scripts on PATH.
py=$(command -v "python$pythonVersion")
mkdir -p "$out/site/bin" "$out/libexec"
ln -s "$py" "$out/site/bin/python$pythonVersion"
whl=$(SOURCE_DATE_EPOCH=315532800 PYTHONDONTWRITEBYTECODE=1 "$py" -I "$projectBuilder" "$out/app" "$TMPDIR/project-wheel" $buildWheels)
PYTHONDONTWRITEBYTECODE=1 "$py" -I "$installer" "$out/site" "$pythonVersion" "$whl"
for s in "$out/site/bin/"*; do
  n=${s##*/}
  case "$n" in python*) continue ;; esac
  ln -s "../site/bin/$n" "$out/libexec/$n"
done
"$py" -I -B -m compileall -f -q -o 0 --invalidation-mode unchecked-hash "$out/site/lib" >/dev/null || true
echo "hop: installed the project $(basename "$whl")"
