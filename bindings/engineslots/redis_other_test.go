//go:build !linux

package engineslots

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere the
// cleanups stop the servers.
func dieWithParent(*exec.Cmd) {}
