// Package chaos holds the reliability suites that attack the real asagent
// binary: fault injection against the simulator (5xx, 429 bursts, latency,
// dropped connections, a metadata service that is down, expiring
// credentials), kill -9 at random points of a phase, hostile drop-in
// scripts, and a search of everything the agent printed for secrets.
//
// The simulator runs in the test process (httptest on 127.0.0.1) because its
// faults are set with Sim.SetFault, which the standalone `asagent sim` has no
// flag for; the agent runs as a real process built with go build. See
// docs/reliability.md for the figures. The package has no code outside its
// tests.
package chaos
