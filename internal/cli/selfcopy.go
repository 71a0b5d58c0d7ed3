package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newSelfCopyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "self-copy DEST",
		Short: "Copy this sgxops binary to DEST (mode 0755, atomically), e.g. into a volume shared with another container",
		Long: `Copy the running sgxops binary to DEST with mode 0755. The copy is written
to a temporary file in DEST's directory and renamed over DEST, so a reader
never sees a partial binary. The sgxops image has no shell: an init container
runs "/sgxops self-copy /sgxops-tools/sgxops" to hand the CLI to the pod's
other containers through an emptyDir volume.

Exit codes: 0 copied, 2 usage, 5 the copy failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return withExit(ExitInternal, fmt.Errorf("self-copy: locating this binary: %w", err))
			}
			if err := copyExecutable(self, args[0]); err != nil {
				return withExit(ExitInternal, err)
			}
			return nil
		},
	}
}

// copyExecutable copies src to dest with mode 0755 through a temporary file
// in dest's directory and a rename.
func copyExecutable(src, dest string) (err error) {
	if dest == "" {
		return errors.New("self-copy: empty destination")
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("self-copy: writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(0o755); err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("self-copy: %w", err)
	}
	return nil
}
