package main

import (
	"context"
	"fmt"

	"github.com/asagent/asagent/internal/version"
)

func runVersion(_ context.Context, cio cmdIO, args []string) int {
	fs := newFlags(cio, "version", "")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(cio.stdout, version.String())
	return exitOK
}
