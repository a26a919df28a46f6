# The air-gapped toolchain set: busybox, patchelf, Python, Node and Go imported from a host into
# the store as content-addressed seeds (`hop seed import`), then made self-contained here: every
# ELF gets the seed's own loader and an rpath inside the seed, so nothing from the host is used.
#
# seeds: attribute set of store paths (strings), e.g. { busybox = "/nix/store/…-hop-seed-busybox"; }
{ seeds, system ? "x86_64-linux" }:
let
  storePath = p: builtins.storePath p;
  busybox = storePath seeds.busybox;
  has = n: builtins.hasAttr n seeds;
  fixup = name: raw: patchelf: derivation {
    inherit name system;
    builder = "${busybox}/bin/sh";
    args = [ "-eu" ../lib/seed-fixup.sh ];
    PATH = "${busybox}/bin";
    inherit raw;
    patchelf = if patchelf == null then "" else patchelf;
  };
  patchelf = if has "patchelf" then fixup "hop-patchelf" (storePath seeds.patchelf) null else null;
  fixed = n: if has n then fixup "hop-${n}" (storePath seeds.${n}) patchelf else null;
in import ../lib/toolchain-base.nix { inherit system busybox; } // rec {
  kind = "seed";
  inherit patchelf;
  python = fixed "python";
  node = fixed "node";
  go = fixed "go";
  php = fixed "php";
  ruby = fixed "ruby";
  postgres = fixed "postgres";
  redis = fixed "redis";
  mariadb = fixed "mariadb";
  goroot = if go == null then null else "${go}/share/go";
  pythonVersion = "3.11";
}
