#!/bin/sh
# asagent post-install: the deb's postinst and the rpm's %post.
#   deb: $1 = configure, $2 = the version configured before (empty on a first install)
#   rpm: $1 = how many versions are installed now (1: first install, 2: upgrade)
set -e

unit=asagent.service

case "$1" in
configure) if [ -z "$2" ]; then first=yes; else first=no; fi ;;
1) first=yes ;;
[0-9]*) first=no ;;
*) exit 0 ;; # abort-upgrade, abort-remove...: nothing to undo
esac

# running_system is true where systemd runs this machine right now. In an image
# being built (a chroot, debootstrap, a container build) the service is enabled
# but not started: it starts on the first boot of an instance made from the image.
running_system() {
	[ -d /run/systemd/system ] || return 1
	command -v systemctl >/dev/null 2>&1 || return 1
	# In a chroot PID 1's root is not ours. Where that cannot be read (no
	# /proc, as in a bare image build, or no right to look) this is no system
	# to start services on either.
	pid1_root=$(stat -L -c %d:%i /proc/1/root/ 2>/dev/null) || return 1
	[ "$pid1_root" = "$(stat -L -c %d:%i /)" ] || return 1
	# Debian's switch for image builders: a policy-rc.d that forbids starting
	# services (exit 101).
	if [ -x /usr/sbin/policy-rc.d ]; then
		rc=0
		/usr/sbin/policy-rc.d asagent start >/dev/null 2>&1 || rc=$?
		[ "$rc" -ne 101 ] || return 1
	fi
	return 0
}

# Enable at boot on a first install only, so that an administrator's
# `systemctl disable asagent` survives upgrades. In an image build systemctl
# writes the symlinks itself (SYSTEMCTL_INSTALL_CLIENT_SIDE) rather than ask a
# service manager that is not there, even when the builder made
# /run/systemd/system appear.
if [ "$first" = yes ] && command -v systemctl >/dev/null 2>&1; then
	if running_system; then
		systemctl enable "$unit" >/dev/null 2>&1 || failed=yes
	else
		SYSTEMCTL_INSTALL_CLIENT_SIDE=1 systemctl enable "$unit" >/dev/null 2>&1 || failed=yes
	fi
	if [ "${failed:-}" = yes ]; then
		echo "asagent: could not enable $unit; run: systemctl enable $unit" >&2
	fi
fi

if running_system; then
	systemctl daemon-reload || true
	if systemctl is-enabled --quiet "$unit" || systemctl is-active --quiet "$unit"; then
		# --no-block: the unit is Type=notify and reports READY only once it
		# knows its instance and group. A package install (perhaps run by
		# cloud-init, which must not be held up) does not wait for that.
		# restart: an upgrade runs the new binary; a held hook stays held
		# and the new agent carries on with it.
		systemctl --no-block restart "$unit" ||
			echo "asagent: could not start $unit; see: systemctl status $unit" >&2
	fi
fi
exit 0
