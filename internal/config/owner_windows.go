//go:build windows

package config

import (
	"fmt"
	"os"
)

// checkOwnership on Windows only requires a regular file: the directory's
// ACL (ProgramData, writable by administrators) is what protects drop-ins.
func checkOwnership(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("refused: not a regular file")
	}
	return nil
}
