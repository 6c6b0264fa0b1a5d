#!/bin/sh
# Runs before the files are unpacked (deb preinst, rpm %pre): the system
# user and group the services run as.
set -e
if ! getent group triad >/dev/null; then
	groupadd --system triad
fi
if ! getent passwd triad >/dev/null; then
	useradd --system --gid triad --home-dir /var/lib/triad --no-create-home \
		--shell /usr/sbin/nologin --comment "Triad MQTT broker" triad
fi
