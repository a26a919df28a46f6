# Python: a venv of locked wheels (its own derivation, shared by every app with the same lock),
# then the app on top. Changing app code rebuilds only the app derivation.
{ toolchain, wheels ? [ ], buildWheels ? [ ], installProject ? false, ... }@args:
let
  tc = toolchain;
  pyenv = tc.mkDerivation ({
    name = "python${tc.pythonVersion}-env";
    script = ../lib/python-env.sh;
    inherit (tc) python pythonVersion;
    installer = ../lib/install-wheels.py;
    wheels = map tc.fetch wheels;
  } // (if buildWheels == [ ] then { } else {
    # sdists among the wheels are built here, with these (setuptools, wheel) and hop's builder.
    buildWheels = map tc.fetch buildWheels;
    sdistBuilder = ../lib/build-sdist.py;
  }));
in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "wheels" "buildWheels" "installProject" ]) // {
  runtime = [ pyenv ] ++ (args.runtime or [ ]);
  runtimeEnv = [
    { name = "PYTHONDONTWRITEBYTECODE"; value = "1"; }
    { name = "PYTHONUNBUFFERED"; value = "1"; }
  ] ++ (if installProject then [
    # The project, built from the app tree and installed beside it (src layouts import).
    { name = "PYTHONPATH"; value = "${placeholder "out"}/site/lib/python${tc.pythonVersion}/site-packages"; }
  ] else [ ]);
} // (if installProject then {
  recipeStep = ../lib/python-project.sh;
  extra = {
    buildWheels = map tc.fetch buildWheels;
    projectBuilder = ../lib/build-sdist.py;
    installer = ../lib/install-wheels.py;
    inherit (tc) pythonVersion;
  };
} else { }))
