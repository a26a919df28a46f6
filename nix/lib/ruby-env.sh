# ruby and bundle wrappers: RUBYLIB and GEM_PATH point into the seed, so nothing of the host's
# /usr/lib/ruby is ever read.
mkdir -p "$out/bin"
r="$ruby/lib/ruby"
cat > "$out/bin/ruby" <<W
#!$shell
export RUBYLIB="$r/vendor_ruby:$r/3.1.0:$r/3.1.0/arch\${RUBYLIB:+:\$RUBYLIB}"
export GEM_PATH="\${GEM_PATH:-$r/gems/3.1.0}"
exec "$ruby/bin/ruby" "\$@"
W
bundler=$(cd "$r/gems/3.1.0/gems" && echo bundler-*)
cat > "$out/bin/bundle" <<W
#!$shell
exec "$out/bin/ruby" "$r/gems/3.1.0/gems/$bundler/exe/bundle" "\$@"
W
chmod 0555 "$out/bin/ruby" "$out/bin/bundle"
"$out/bin/ruby" -e 'require "json"; require "openssl"; print "hop: ruby ", RUBY_VERSION, " (", Gem::VERSION, ")\n"'
