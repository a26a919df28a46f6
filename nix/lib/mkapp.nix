# The app derivation every recipe ends in: the unpacked source, build steps run in the sandbox,
# one launcher per process, and hop's manifest. `runtime` are toolchain/environment outputs put
# on PATH at build and run time.
toolchain:
{ name, version, src, processes ? [ ], beforeBuild ? "", buildCommands ? "", manifest ? "{}"
, env ? [ ], runtime ? [ ], runtimeEnv ? [ ], recipeStep ? null, extra ? { } }:
let
  inherit (builtins) concatStringsSep genList length elemAt listToAttrs replaceStrings;
  q = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  # Defaults only: a value the operator sets at run time (EnvironmentFile) wins.
  exportDefault = e: "[ -n \"\${${e.name}+set}\" ] || export ${e.name}=${q e.value}";
  procAttrs = listToAttrs (builtins.concatLists (genList (i: let p = elemAt processes i; in [
    { name = "proc_${toString i}_name"; value = p.name; }
    { name = "proc_${toString i}_cmd"; value = p.command; }
  ]) (length processes)));
in
toolchain.mkDerivation ({
  name = "${name}-${version}";
  script = ./app.sh;
  common = ./common.sh;
  path = runtime;
  inherit src beforeBuild buildCommands manifest;
  shell = toolchain.shell;
  runtimePath = concatStringsSep ":" ((map (p: "${p}/bin") runtime) ++ [ toolchain.basePath ]);
  procCount = toString (length processes);
  envExports = concatStringsSep "\n" (map exportDefault (runtimeEnv ++ env));
  # Built here, never offered to Nix's build hook: Nix 2.8 otherwise starts `build-remote` for
  # every build (~0.1 s here) only to hear there are no remote builders.
  preferLocalBuild = true;
} // procAttrs // extra // (if recipeStep == null then { } else { inherit recipeStep; }))
