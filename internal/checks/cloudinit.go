package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// cloudInitProber waits for cloud-init to finish; the package doc states
// the rules. Files are read under root so tests can use fixtures.
type cloudInitProber struct{ root string }

// cloudInitResult is the part of /run/cloud-init/result.json that matters,
// written once when cloud-init is done.
type cloudInitResult struct {
	V1 struct {
		Datasource        string              `json:"datasource"`
		Errors            []string            `json:"errors"`
		RecoverableErrors map[string][]string `json:"recoverable_errors"`
	} `json:"v1"`
}

// cloudInitStatus is the part of /run/cloud-init/status.json that says
// which stage runs.
type cloudInitStatus struct {
	V1 struct {
		Stage *string `json:"stage"`
	} `json:"v1"`
}

func (c cloudInitProber) path(p string) string {
	root := c.root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, filepath.FromSlash(p))
}

func (c cloudInitProber) exists(p string) bool {
	_, err := os.Lstat(c.path(p))
	return err == nil
}

func (c cloudInitProber) probe(context.Context, attempt) outcome {
	data, err := os.ReadFile(c.path("run/cloud-init/result.json"))
	switch {
	case err == nil:
		return c.finished(data)
	case !errors.Is(err, os.ErrNotExist):
		return outcome{kind: notYet, err: fmt.Errorf("cloud-init result: %w", err)}
	}
	if data, err := os.ReadFile(c.path("run/cloud-init/status.json")); err == nil {
		var st cloudInitStatus
		stage := "unknown stage"
		if json.Unmarshal(data, &st) == nil && st.V1.Stage != nil {
			stage = "stage " + *st.V1.Stage
		}
		return outcome{kind: notYet, err: fmt.Errorf("cloud-init is running (%s)", stage)}
	}
	switch {
	case c.exists("etc/cloud/cloud-init.disabled"), c.exists("run/cloud-init/disabled"):
		return outcome{kind: pass, output: "cloud-init is disabled"}
	case !c.exists("usr/bin/cloud-init") && !c.exists("run/cloud-init") && !c.exists("var/lib/cloud"):
		return outcome{kind: pass, output: "cloud-init is not installed"}
	}
	return outcome{kind: notYet, err: errors.New("cloud-init is installed but has not started")}
}

// finished judges result.json.
func (c cloudInitProber) finished(data []byte) outcome {
	var r cloudInitResult
	if err := json.Unmarshal(data, &r); err != nil {
		// cloud-init writes it atomically, so this is not a half-written
		// file; still, a later attempt may see a fixed one.
		return outcome{kind: notYet, err: fmt.Errorf("cloud-init result.json: %w", err)}
	}
	if len(r.V1.Errors) > 0 {
		return outcome{kind: giveUp, output: strings.Join(r.V1.Errors, "\n"),
			err: fmt.Errorf("cloud-init finished with %d error(s): %s", len(r.V1.Errors), r.V1.Errors[0])}
	}
	out := "cloud-init done"
	if r.V1.Datasource != "" {
		out += " (" + r.V1.Datasource + ")"
	}
	levels := make([]string, 0, len(r.V1.RecoverableErrors))
	for level := range r.V1.RecoverableErrors {
		levels = append(levels, level)
	}
	sort.Strings(levels)
	for _, level := range levels {
		for _, msg := range r.V1.RecoverableErrors[level] {
			out += "\n" + level + ": " + msg
		}
	}
	return outcome{kind: pass, output: sanitize([]byte(out), true)}
}
