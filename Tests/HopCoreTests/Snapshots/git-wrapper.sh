#!/bin/sh
# Written by `hop git setup`: the only command the git user may run as root.
exec /usr/bin/env -i HOP_HOME=/var/lib/hop PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 HOP_FIND_LINKS=/srv/wheels /usr/local/bin/hop git-shell "$@"
