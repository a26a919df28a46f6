# Ruby: the app's gems from vendor/cache (no network: --local), exactly Gemfile.lock's (frozen).
if [ -f "$out/app/Gemfile" ]; then
  export HOME="$TMPDIR/home" BUNDLE_USER_HOME="$TMPDIR/bundle-home" GEM_HOME="$TMPDIR/gem-home"
  export BUNDLE_GEMFILE="$out/app/Gemfile" BUNDLE_PATH="$out/bundle" BUNDLE_DEPLOYMENT=true BUNDLE_FROZEN=true
  export BUNDLE_DISABLE_VERSION_CHECK=true BUNDLE_NO_INSTALL=false SOURCE_DATE_EPOCH=1
  [ -d "$out/app/vendor/cache" ] || { echo "hop: Gemfile but no vendor/cache: run \`bundle cache\` and commit vendor/cache (hop builds offline)" >&2; exit 1; }
  chmod -R u+w "$out/app"
  (cd "$out/app" && bundle install --local --no-cache --quiet)
  rm -rf "$out/app/.bundle" "$out/bundle/ruby/3.1.0/cache"
  # Debian's RubyGems writes gem executables with a `#! ruby3.1` line (a host program): point them
  # at hop's ruby wrapper instead.
  for b in "$out"/bundle/ruby/3.1.0/bin/*; do
    [ -f "$b" ] && sed -i "1s|^#!.*|#!$(command -v ruby)|" "$b"
  done
  echo "hop: $(cd "$out/bundle/ruby/3.1.0/gems" && ls | wc -l) gems installed from vendor/cache"
fi
