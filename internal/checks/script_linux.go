package checks

import (
	"context"
	"os"
	"os/exec"
)

// scriptFD is the descriptor the script's open file has in the child: the
// first of exec.Cmd's ExtraFiles.
const scriptFD = "/proc/self/fd/3"

// scriptCommand runs the drop-in script open as f by its descriptor, so
// that the file that was checked is the file that runs, whatever happened
// to its name since. The child gets f as fd 3, open across exec: the
// interpreter of a #! script opens the script again through that name,
// which is then its $0 (ASAGENT_SCRIPT has the path). The kernel reads the
// #! line as for a path.
func scriptCommand(ctx context.Context, f *os.File, path string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, scriptFD)
	cmd.Args[0] = path
	cmd.ExtraFiles = []*os.File{f}
	return cmd, nil
}
