# PHP: the app tree as it is (a committed composer `vendor/`, checked against composer.lock before
# the build), hop's php.ini and php-fpm.conf in $out/php, PHP on every launcher's PATH. No network:
# composer never runs here.
{ toolchain, phpIni, fpmConf, ... }@args:
let tc = toolchain; in
import ../lib/mkapp.nix tc ((builtins.removeAttrs args [ "toolchain" "phpIni" "fpmConf" ]) // {
  runtime = [ tc.php ] ++ (args.runtime or [ ]);
  runtimeEnv = [
    # Only hop's php.ini: never the host's /etc/php conf.d scan directory.
    { name = "PHP_INI_SCAN_DIR"; value = ""; }
    { name = "PHPRC"; value = "${placeholder "out"}/php/php.ini"; }
  ];
  recipeStep = ../lib/php-build.sh;
  extra = { inherit phpIni fpmConf; php = tc.php; };
})
