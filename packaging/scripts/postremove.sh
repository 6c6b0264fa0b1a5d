#!/bin/sh
# deb postrm (remove|purge|upgrade|...) and rpm %postun (0: erase,
# 1: upgrade). Purge (deb) also deletes the node's data in /var/lib/triad
# and the configuration; the triad user is kept, as Debian recommends.
set -e
case "$1" in
	remove|purge|0)
		if [ -d /run/systemd/system ]; then
			systemctl daemon-reload >/dev/null 2>&1 || true
		fi
		;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/triad /etc/triad
fi
