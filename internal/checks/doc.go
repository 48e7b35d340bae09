// Package checks runs the checks of one lifecycle phase — launch (is this
// instance ready to serve?) or terminate (drain it before it goes) — and says
// whether the phase passed, failed or is still pending, with the evidence.
// It is the only package of the agent that starts processes.
//
// # Where checks come from
//
// Drop-in scripts: every executable in the phase's scripts_dir
// (/etc/asagent/launch.d, /etc/asagent/terminate.d) whose name consists only of
// ASCII letters, digits, '_' and '-' (run-parts rules: README.md, *.dpkg-old,
// *~ and dotfiles are skipped silently). On Windows the name may also end in
// .exe, .cmd, .bat or .ps1. A script's check name is its file name; it gets
// the phase's interval and timeout, success_threshold 1 and
// failure_threshold 0.
//
// Declarative checks: launch.checks and terminate.checks in agent.yaml and
// in the YAML drop-ins of include_dir, of type exec, http, tcp, file,
// cloud-init and signal (see config.Check).
//
// Scripts and declarative checks share one namespace and are sorted by name
// in C-locale (byte-wise) order. A name that is already taken is refused.
//
// # Modes and verdicts
//
// In parallel mode every check runs at once and the phase passes when all
// have passed. In sequential mode one check runs at a time, in name order;
// the next step is always the first check, in name order, that has not
// passed, so a check added mid-phase runs when its turn comes. In both
// modes a check that has passed stays passed for the rest of the phase and
// is not run again; the phase fails as soon as one check fails, and when
// max_wait is spent. A phase with no runnable check passes at once.
//
// Refused drop-ins (see Safety) are not run: they are logged and shown in
// the status, and while one is refused the phase cannot pass (it is a check
// the user meant to run); the phase waits for a fix, which the reload picks
// up, and fails at max_wait. The same holds for a drop-in that does not
// load: a scripts directory that is not trusted or cannot be read, and a
// YAML drop-in of include_dir that is refused, cannot be read or does not
// parse (for both phases: it was meant to add checks to one of them). A
// failed check still fails the phase at once.
//
// # The script contract
//
// The same contract holds for drop-in scripts and exec checks:
//
//   - Exit status 0: passed. 100: give up, the phase fails at once. Anything
//     else, a signal or a timeout: not yet, try again at the next interval.
//     A program that cannot be started (a missing #! interpreter, a command
//     not found) counts as a "not yet" attempt, so failure_threshold and
//     max_wait still end the phase.
//   - Environment: only ASAGENT_PHASE (launch or terminate),
//     ASAGENT_INSTANCE_ID, ASAGENT_SCALING_GROUP_ID, ASAGENT_HOOK_NAMES
//     (comma-separated), ASAGENT_DEADLINE (RFC 3339 UTC, when the hook
//     currently times out; it moves after each EXTEND; in `asagent checks`
//     it is the end of max_wait), ASAGENT_ATTEMPT (1 for the first attempt of
//     this check), ASAGENT_SCRIPT (a drop-in script's own path; see Safety
//     for why $0 is not), PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,
//     and HOME, LANG, LC_ALL and TZ when the agent has them. Nothing else of
//     the agent's environment is passed on: it may hold cloud credentials.
//     On Windows the agent's environment is inherited (cmd.exe needs it).
//   - stdin is /dev/null; the working directory is / (on Windows, the
//     system drive's root).
//   - stdout and stderr are captured, logged line by line with the check's
//     name, and the last 4 KiB of each attempt are kept for
//     `asagent status`; the rest is counted, not kept.
//   - Each attempt has a timeout (the check's timeout, for scripts the
//     phase's timeout). The script runs in its own process group; on timeout
//     the group gets SIGTERM and, 3 s later, SIGKILL, children included. An
//     attempt whose script exited but left a background process holding
//     stdout or stderr open ends 3 s after the exit; redirect the output of
//     anything you start in the background.
//   - A check never runs twice at once: the next attempt starts one interval
//     (at least 1 s) after the previous one ended.
//   - On Windows, .exe runs directly, .cmd and .bat through cmd.exe /C, .ps1
//     through powershell.exe -NoProfile -ExecutionPolicy Bypass -File; on
//     timeout the process tree is killed with taskkill /T /F.
//
// # Safety
//
// A drop-in script is refused (logged, skipped, shown in the status as
// refused with the reason) when it is not a regular file or a symlink to
// one, is not executable, is not owned by root or by the agent's user, or
// is group- or world-writable (cron and sudo apply the same rules), and
// when anything on the path to it could be changed by someone else: as
// OpenSSH's StrictModes, every directory from / to the script (the scripts
// directory, its ancestors, and those of every symlink's target) must be
// owned by root or the agent's user and not group- or world-writable,
// except a sticky directory owned by root (as /tmp), and every symlink on
// the way must be owned by root or the agent's user (package trust). A
// scripts directory that breaks these rules keeps the phase from passing
// even when it is empty or gone: with a writable parent, someone could
// have renamed it away.
//
// The rules are checked when the directory is read and again before every
// attempt, on the open file, and on Linux the script runs from that open
// file (by descriptor, /proc/self/fd/3), so that nothing can be swapped in
// between. A #! script's $0 is therefore /proc/self/fd/3; ASAGENT_SCRIPT
// holds its path. YAML drop-ins of include_dir follow the same rules and
// are parsed from the file that was checked. insecure_dropins turns off the
// owner and mode rules, for development. On Windows there are no owner or
// mode rules, and scripts run by path.
//
// # Time
//
// Intervals, initial_delay and max_wait run on the injected
// clockwork.Clock. The per-attempt timeout, the kill grace, the fsnotify
// debounce and the reported attempt durations use real time: they bound and
// measure real processes and sockets, which a fake clock cannot stop.
//
// # cloud-init
//
// A cloud-init check reads cloud-init's state files under its root (default
// /). In this order: when run/cloud-init/result.json exists, the check
// passes if its v1.errors list is empty and fails at once if not
// (v1.recoverable_errors, "degraded" in `cloud-init status`, are shown but
// pass); when run/cloud-init/status.json exists, cloud-init is running and
// the check is not yet done; when etc/cloud/cloud-init.disabled or
// run/cloud-init/disabled exists, or none of usr/bin/cloud-init,
// run/cloud-init and var/lib/cloud exists, cloud-init is disabled or not
// installed and the check passes; otherwise cloud-init is installed but has
// not started, and the check is not yet done.
package checks
