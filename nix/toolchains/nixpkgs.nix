# The same toolchain names, supplied by a pinned nixpkgs instead of host seeds. Recipes cannot
# tell the two apart: only where the toolchain comes from differs.
#
# nixpkgs: a nixpkgs source tree (flake input, or fetchTarball { url; sha256; }).
{ nixpkgs, system ? "x86_64-linux" }:
let
  pkgs = import nixpkgs { inherit system; config = { }; overlays = [ ]; };
  busybox = pkgs.pkgsStatic.busybox;
in import ../lib/toolchain-base.nix { inherit system busybox; } // rec {
  kind = "nixpkgs";
  patchelf = pkgs.patchelf;
  python = pkgs.python311;
  node = pkgs.nodejs_20;
  go = pkgs.go;
  php = pkgs.php;
  ruby = pkgs.ruby;
  goroot = "${go}/share/go";
  pythonVersion = "3.11";
}
