# PHP: hop's php.ini (extension_dir = the seed's modules) and php-fpm.conf, beside app/.
mkdir -p "$out/php"
printf '%s' "$phpIni" | sed "s|@PHP_EXTENSION_DIR@|$php/lib/php/extensions|" > "$out/php/php.ini"
printf '%s' "$fpmConf" > "$out/php/php-fpm.conf"
# Every module the ini names must load: a broken seed fails here, not at the first request.
PHP_INI_SCAN_DIR= "$php/bin/php" -c "$out/php/php.ini" -r 'exit(0);' 2>"$TMPDIR/php-check" || { cat "$TMPDIR/php-check" >&2; exit 1; }
# (Debian's PHP reads time zones from the system's tzdata, which the sandbox lacks: that warning is
# expected here, and apps find /usr/share/zoneinfo at run time.)
if grep -v "date.timezone" "$TMPDIR/php-check" | grep -q "Warning\|Fatal"; then cat "$TMPDIR/php-check" >&2; echo "hop: PHP could not load its extensions" >&2; exit 1; fi
echo "hop: php $("$php/bin/php" -n -r 'echo PHP_VERSION;') with $(grep -c '^extension\|^zend_extension' "$out/php/php.ini") extensions"
