# Go: stdlib-only or vendored modules, built offline with -trimpath and no build id so the
# binary is bit-reproducible. The binary lands in $out/libexec, on every launcher's PATH.
# `goAtRuntime` (a process runs `go run …`): the toolchain is on the processes' PATH too, offline
# (GOPROXY=off, GOTOOLCHAIN=local, vendored modules when there are any); its build cache goes to
# the unit's cache directory ($XDG_CACHE_HOME).
{ toolchain, goBinary ? "app", goAtRuntime ? false, ... }@args:
let tc = toolchain; in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "goBinary" "goAtRuntime" ]) // {
  runtime = (args.runtime or [ ]) ++ (if goAtRuntime then [ tc.go ] else [ ]);
  runtimeEnv = (args.runtimeEnv or [ ]) ++ (if goAtRuntime then [
    { name = "GOROOT"; value = tc.goroot; }
    { name = "GOTOOLCHAIN"; value = "local"; }
    { name = "GOPROXY"; value = "off"; }
    { name = "GOFLAGS"; value = "-trimpath -buildvcs=false"; }
    { name = "CGO_ENABLED"; value = "0"; }
  ] else [ ]);
  recipeStep = ../lib/go-build.sh;
  extra = { inherit goBinary; inherit (tc) go goroot; };
})
