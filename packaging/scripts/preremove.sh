#!/bin/sh
# asagent pre-remove: the deb's prerm and the rpm's %preun.
#   deb: $1 = remove, upgrade, deconfigure or failed-upgrade
#   rpm: $1 = how many versions are left afterwards (0: erase, 1: upgrade)
set -e

unit=asagent.service

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;; # an upgrade: the new version's post-install restarts the agent
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	# A hook the agent holds stays held; AS applies its default result at
	# the timeout unless someone answers it (asagent complete) first.
	systemctl stop "$unit" || true
fi
# rpm has no purge: an erase is final, so the boot-time link goes now. (The deb
# keeps it until purge, so that reinstalling a removed package re-enables it.)
if [ "$1" = 0 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" >/dev/null 2>&1 || true
fi
exit 0
