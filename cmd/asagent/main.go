// Command asagent is the in-instance lifecycle agent for Huawei Cloud Auto
// Scaling: it answers launch and terminate hooks from the results of real
// readiness and drain checks.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
