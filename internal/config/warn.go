package config

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// Warnings lists what is wrong with the configuration file at path, loaded
// as cfg, without stopping the agent: static secret credentials in a file
// that others can read (the package installs agent.yaml 0644, for the
// agency's temporary credentials, which need no key in the file).
func Warnings(path string, cfg *Config) []string {
	cr := cfg.Cloud.Credentials
	if cr.SecretKey == "" && cr.SecurityToken == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || !readableByOthers(fi) {
		return nil
	}
	return []string{fmt.Sprintf("%s holds cloud.credentials and others can read it (mode %04o): chmod 600 %s, or drop the static keys for the instance's agency",
		path, fi.Mode().Perm(), path)}
}

// readableByOthers reports whether users other than the owner may read a
// file; Windows has no such mode bits (its ACLs decide).
func readableByOthers(fi fs.FileInfo) bool {
	return runtime.GOOS != "windows" && fi.Mode().Perm()&0o044 != 0
}
