#!/bin/sh
# deb postinst (configure [OLD_VERSION]) and rpm %post (1: install,
# 2: upgrade). The services are not started: a node needs its cluster
# configured first (see /usr/share/doc/triad/operations.md).
set -e
fresh=no
case "$1" in
	configure) [ -z "$2" ] && fresh=yes ;;
	1) fresh=yes ;;
esac
install -d -o triad -g triad -m 0750 /var/lib/triad
if [ "$fresh" = yes ]; then
	# The configuration may name keys and passwords files: readable by the
	# service, not by everyone. Only on first install: later changes are
	# the operator's.
	chown root:triad /etc/triad /etc/triad/triad.yaml /etc/triad/lbagent.yaml
	chmod 0750 /etc/triad
	chmod 0640 /etc/triad/triad.yaml /etc/triad/lbagent.yaml
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$fresh" = no ]; then
		# An upgrade restarts what was running, one node at a time being the
		# operator's rolling upgrade (operations.md).
		systemctl try-restart triad.service triad-lbagent.service >/dev/null 2>&1 || true
	fi
fi
