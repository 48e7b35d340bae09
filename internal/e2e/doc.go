// Package e2e holds the tests that exercise asagent as a user installs it:
// the .deb and .rpm that `make package` builds, installed with dpkg into a
// minimal Debian booted with systemd-nspawn (systemd as PID 1), inside a
// network namespace where the simulator owns 169.254.169.254; and the
// cloud-init example, checked with cloud-init's own schema validator.
//
// The tests need root and Debian's systemd-container, debootstrap, iproute2
// and cloud-init packages (.ci/run installs them). Without them they skip
// with a message, except under CI, where a missing tool is a failure.
package e2e
