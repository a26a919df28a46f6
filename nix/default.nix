# hop's Nix library: toolchain sets and recipes. Plain derivations, Nix 2.8 compatible.
{
  toolchains = {
    seed = import ./toolchains/seed.nix;
    nixpkgs = import ./toolchains/nixpkgs.nix;
  };
  recipes = {
    python = import ./recipes/python.nix;
    node = import ./recipes/node.nix;
    go = import ./recipes/go.nix;
    php = import ./recipes/php.nix;
    ruby = import ./recipes/ruby.nix;
    static = import ./recipes/static.nix;
    shell = import ./recipes/shell.nix;
    nix = import ./recipes/nix.nix;
  };
}
