package main

import (
	"context"
	"fmt"

	"github.com/asagent/asagent/internal/demo"
)

func runDemo(ctx context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "demo", "[--verbose]")
	verbose := fs.Bool("verbose", false, "print every AS API call as it happens, not only the callbacks")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := demo.Run(ctx, cio.stdout, demo.Options{Verbose: *verbose}); err != nil {
		fmt.Fprintf(cio.stderr, "asagent demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}
