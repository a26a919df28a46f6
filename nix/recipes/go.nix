# Go: stdlib-only or vendored modules, built offline with -trimpath and no build id so the
# binary is bit-reproducible. The binary lands in $out/libexec, on every launcher's PATH.
{ toolchain, goBinary ? "app", ... }@args:
let tc = toolchain; in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "goBinary" ]) // {
  runtime = args.runtime or [ ];
  recipeStep = ../lib/go-build.sh;
  extra = { inherit goBinary; inherit (tc) go goroot; };
})
