# Node: dependencies come from package-lock.json's resolved URLs and integrity hashes, each a
# fixed-output input; node_modules is its own derivation. An app without dependencies builds
# with no input but its source.
{ toolchain, npmPackages ? [ ], npmAtRuntime ? false, ... }@args:
let
  tc = toolchain;
  nodeModules = tc.mkDerivation {
    name = "node-modules";
    script = ../lib/node-modules.sh;
    pkgCount = toString (builtins.length npmPackages);
    pkgPaths = builtins.concatStringsSep " " (map (p: p.path) npmPackages);
    tarballs = map (p: tc.fetch { inherit (p) name url hash; }) npmPackages;
  };
  hasDeps = npmPackages != [ ];
  # A process runs `npm start`/`npm run NAME`: hop's npm (package.json scripts only) on PATH.
  npmShim = tc.mkDerivation {
    name = "hop-npm";
    script = ../lib/npm-shim.sh;
    shim = ../lib/npm-shim.js;
    inherit (tc) node shell;
  };
in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "npmPackages" "npmAtRuntime" ]) // {
  runtime = [ tc.node ] ++ (if npmAtRuntime then [ npmShim ] else [ ]) ++ (args.runtime or [ ]);
  runtimeEnv = [ { name = "NODE_ENV"; value = "production"; } ];
  recipeStep = if hasDeps then ../lib/node-link.sh else null;
  extra = if hasDeps then { inherit nodeModules; } else { };
})
