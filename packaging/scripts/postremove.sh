#!/bin/sh
# asagent post-remove: the deb's postrm and the rpm's %postun.
#   deb: $1 = remove, purge, upgrade, disappear, abort-install...
#   rpm: $1 = how many versions are left (0: erase, 1: upgrade)
set -e

unit=asagent.service

reload() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
	fi
}

case "$1" in
remove)
	# The configuration in /etc/asagent and the state in /var/lib/asagent stay
	# until purge, as Debian policy wants for a remove.
	reload
	;;
purge)
	# Everything the agent or the operator put in its places: the
	# configuration and drop-ins (/etc/asagent, including scripts added by
	# hand), the state (/var/lib/asagent), the boot-time link. Left alone:
	# /etc/default/asagent and `systemctl edit` drop-ins, which are the
	# administrator's own files, and the journal.
	rm -f "/etc/systemd/system/multi-user.target.wants/$unit"
	rm -rf /etc/asagent /var/lib/asagent /run/asagent
	reload
	;;
0)
	# rpm erase: there is no purge, so the state goes now; a changed
	# agent.yaml is kept as agent.yaml.rpmsave by rpm itself.
	rm -rf /var/lib/asagent /run/asagent
	reload
	;;
esac
exit 0
