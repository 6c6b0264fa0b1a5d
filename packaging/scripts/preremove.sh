#!/bin/sh
# deb prerm (remove|upgrade|...) and rpm %preun (0: erase, 1: upgrade):
# stop the services when the package goes away, not on upgrade.
set -e
case "$1" in
	remove|0)
		if [ -d /run/systemd/system ]; then
			systemctl disable --now triad.service triad-lbagent.service >/dev/null 2>&1 || true
		fi
		;;
esac
