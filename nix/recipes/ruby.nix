# Ruby: the seed's interpreter behind a wrapper that points it at its own library tree (Debian's
# Ruby has its load path compiled in), Bundler, and the app's gems installed offline from its
# committed vendor/cache, frozen to Gemfile.lock, into $out/bundle.
{ toolchain, ... }@args:
let
  tc = toolchain;
  rubyenv = tc.mkDerivation {
    name = "ruby-env";
    script = ../lib/ruby-env.sh;
    inherit (tc) ruby shell;
  };
in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" ]) // {
  runtime = [ rubyenv ] ++ (args.runtime or [ ]);
  runtimeEnv = [
    { name = "BUNDLE_GEMFILE"; value = "${placeholder "out"}/app/Gemfile"; }
    { name = "BUNDLE_PATH"; value = "${placeholder "out"}/bundle"; }
    { name = "BUNDLE_DEPLOYMENT"; value = "true"; }
    { name = "BUNDLE_FROZEN"; value = "true"; }
    { name = "RACK_ENV"; value = "production"; }
  ];
  recipeStep = ../lib/ruby-build.sh;
})
