{
  description = "hop: a self-hosted PaaS whose every release is a Nix closure";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs { inherit system; };
      lib = import ./nix;
    in {
      # hop's Nix library: toolchain sets (seed, nixpkgs) and recipes.
      lib = lib // {
        # The nixpkgs toolchain set bound to this flake's pinned nixpkgs.
        toolchain = lib.toolchains.nixpkgs { inherit nixpkgs system; };
      };

      packages.${system}.default = pkgs.stdenv.mkDerivation {
        pname = "hop";
        version = "0.1.0";
        src = self;
        nativeBuildInputs = [ pkgs.swift pkgs.swiftpm pkgs.pkg-config ];
        buildInputs = [ pkgs.libarchive pkgs.sqlite ];
        buildPhase = "swift build -c release --disable-sandbox";
        installPhase = ''
          mkdir -p $out/bin $out/share/hop
          cp .build/release/hop $out/bin/
          cp -r nix $out/share/hop/nix
        '';
      };
    };
}
