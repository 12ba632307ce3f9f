package engineslots

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when this test process dies, so
// a test binary that panics or times out (and never runs its cleanups)
// leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
