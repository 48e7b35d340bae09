// Package bench measures what matters to people who run asagent on
// thousands of instances: a fleet of engines against one throttled
// simulator on virtual time, the AS API calls an instance makes per hour
// (beside a heartbeat-every-10-s baseline), decision and detection
// latency, and the idle footprint of the real binary read from /proc.
// `asagent bench` runs it; `make bench` writes docs/benchmarks.md from it.
//
// Like the demo, it wires the real engine, AS client and checks to the
// project's simulator; nothing here is used by the agent itself.
package bench
