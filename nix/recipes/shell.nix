# A shell app: its start script runs under the toolchain's busybox sh, with busybox on PATH.
{ toolchain, ... }@args:
import ../lib/mkapp.nix toolchain (builtins.removeAttrs args [ "toolchain" ])
