# What every toolchain set provides besides its tools: the builder shell, the base PATH, fixed
# inputs, and the one way recipes make a derivation (busybox sh runs a script in the sandbox).
{ system, busybox }:
rec {
  inherit system busybox;
  shell = "${busybox}/bin/sh";
  basePath = "${busybox}/bin";
  fetch = import ./fixed.nix;
  mkDerivation = { name, script, path ? [ ], ... }@attrs:
    derivation ((builtins.removeAttrs attrs [ "script" "path" ]) // {
      inherit name system;
      builder = shell;
      args = [ "-eu" script ];
      PATH = builtins.concatStringsSep ":" ((map (p: "${p}/bin") path) ++ [ basePath ]);
    });
}
