#!/bin/sh
# latest-name.sh FORMAT GOARCH: the stable name `make package` gives a copy
# of each package, the one packaging/cloud-init/user-data.yaml downloads.
# Architectures are spelled as each package manager prints its own:
# `dpkg --print-architecture` (amd64, arm64) and `uname -m` (x86_64, aarch64).
set -e
case "$1/$2" in
deb/amd64 | deb/arm64) echo "asagent_latest_$2.deb" ;;
rpm/amd64) echo "asagent-latest.x86_64.rpm" ;;
rpm/arm64) echo "asagent-latest.aarch64.rpm" ;;
*)
	echo "latest-name.sh: no stable name for format $1, architecture $2" >&2
	exit 1
	;;
esac
