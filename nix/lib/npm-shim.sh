# bin/npm: hop's script runner (npm-shim.js) under the seed's node.
mkdir -p "$out/bin" "$out/lib"
cp "$shim" "$out/lib/npm-shim.js"
printf '#!%s\nexec %s %s "$@"\n' "$shell" "$node/bin/node" "$out/lib/npm-shim.js" > "$out/bin/npm"
chmod 0555 "$out/bin/npm"
