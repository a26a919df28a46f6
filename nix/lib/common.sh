# Shared steps for every recipe's builder (sourced; busybox sh, set -eu).
# Inputs (derivation attributes): src, runtimePath, shell, procCount, proc_N_name, proc_N_cmd,
# beforeBuild, buildCommands (newline-separated), manifest, envExports.

export HOME="$TMPDIR/home"
mkdir -p "$HOME"

# Unpack the canonical source archive into $out/app.
hop_unpack() {
  mkdir -p "$out/app" "$out/bin"
  tar -xf "$src" -C "$out/app"
}

# Run newline-separated shell commands in $out/app, stopping at the first failure.
hop_run_steps() { # label, commands
  [ -n "$2" ] || return 0
  printf '%s\n' "$2" > "$TMPDIR/steps.sh"
  echo "hop: running $1"
  (cd "$out/app" && PATH="$runtimePath:$PATH" "$shell" -eu "$TMPDIR/steps.sh")
}

# Quote a string for sh: wrap in single quotes, escaping embedded ones.
hop_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# One launcher per process: $out/bin/<name> runs the command in the app's environment.
hop_launchers() {
  i=0
  while [ "$i" -lt "$procCount" ]; do
    eval "pname=\$proc_${i}_name; pcmd=\$proc_${i}_cmd"
    {
      echo "#!$shell"
      echo "# hop launcher: process '$pname'"
      echo "cd $out/app"
      echo "export PATH=$out/libexec:$runtimePath:\${PATH:-/usr/bin:/bin}"
      [ -z "$envExports" ] || printf '%s\n' "$envExports"
      echo "exec $shell -c $(hop_quote "$pcmd") \"\$0\" \"\$@\""
    } > "$out/bin/$pname"
    chmod 0555 "$out/bin/$pname"
    i=$((i + 1))
  done
  # `hop run APP -- CMD`: any command in the same environment as the processes.
  {
    echo "#!$shell"
    echo "# hop launcher: one-off commands (hop run)"
    echo "cd $out/app"
    echo "export PATH=$out/libexec:$runtimePath:\${PATH:-/usr/bin:/bin}"
    [ -z "$envExports" ] || printf '%s\n' "$envExports"
    echo 'exec "$@"'
  } > "$out/bin/.hop-run"
  chmod 0555 "$out/bin/.hop-run"
}

hop_manifest() {
  printf '%s\n' "$manifest" > "$out/hop-app.json"
  # Make the tree read-only with canonical permissions.
  find "$out/app" -type d -exec chmod 0555 {} +
}
