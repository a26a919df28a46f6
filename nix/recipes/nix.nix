# The app brings its own default.nix: it is called with hop's toolchain set and must return a
# derivation. The source is unpacked by a derivation first (import from derivation).
{ toolchain, src, name, version, nixFile ? "default.nix", ... }:
let
  unpacked = toolchain.mkDerivation {
    name = "${name}-source";
    script = builtins.toFile "unpack.sh" "mkdir -p $out && tar -xf $src -C $out";
    inherit src;
  };
in
import "${unpacked}/${nixFile}" { hop = toolchain; src = unpacked; inherit name version; }
