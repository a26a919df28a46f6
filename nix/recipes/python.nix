# Python: a venv of locked wheels (its own derivation, shared by every app with the same lock),
# then the app on top. Changing app code rebuilds only the app derivation.
{ toolchain, wheels ? [ ], ... }@args:
let
  tc = toolchain;
  pyenv = tc.mkDerivation {
    name = "python${tc.pythonVersion}-env";
    script = ../lib/python-env.sh;
    inherit (tc) python pythonVersion;
    installer = ../lib/install-wheels.py;
    wheels = map tc.fetch wheels;
  };
in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "wheels" ]) // {
  runtime = [ pyenv ] ++ (args.runtime or [ ]);
  runtimeEnv = [
    { name = "PYTHONDONTWRITEBYTECODE"; value = "1"; }
    { name = "PYTHONUNBUFFERED"; value = "1"; }
  ];
})
