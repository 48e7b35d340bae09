package main

import (
	"context"
	"fmt"

	"github.com/asagent/asagent/internal/demo"
)

func runDemo(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "demo", "")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := demo.Run(ctx, cio.stdout); err != nil {
		fmt.Fprintf(cio.stderr, "asagent demo: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(cio.stdout, "\ndemo passed: both hooks answered CONTINUE from real checks, the slow launch was extended, nothing timed out")
	return exitOK
}
