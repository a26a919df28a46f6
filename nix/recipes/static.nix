# A static site: the files themselves; the front proxy serves them.
{ toolchain, ... }@args:
import ../lib/mkapp.nix toolchain (builtins.removeAttrs args [ "toolchain" ])
