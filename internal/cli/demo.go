package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/internal/demo"
)

type demoOptions struct {
	keepRunning bool
	dir         string
	drainGrace  time.Duration
}

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on one machine: SIMULATED SGX platform, attestd, blue/green rollout with no client change",
		Long: `Run the sgxops story in one command, with no setup: a SIMULATED SGX platform and its
PCS-compatible collateral server, attestd (bbolt in a temporary directory), the sample
confidential service v1 ("blue") registered and active, a client that attests and computes,
then v2 ("green") registered as a candidate, tested by attestation, activated and given the
traffic while blue drains and is retired. The client's configuration (attestd URL and app
name, never an MRENCLAVE) does not change. Finally a client attesting the retired blue is
rejected.

Everything runs on loopback. The platform is SIMULATED: the demo proves the pipeline, not
confidentiality. Exit status 0 when every step succeeded; otherwise the failing step is
named and the status is non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().BoolVar(&o.keepRunning, "keep-running", false, "keep everything running afterwards and print the URLs (Ctrl-C to stop)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "keep the platform state, attestd data and build artifacts in this directory (default: a temporary directory, removed at exit)")
	cmd.Flags().DurationVar(&o.drainGrace, "drain-grace", time.Hour, "how long blue stays accepted after green is activated")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, o *demoOptions) error {
	if o.drainGrace <= 0 {
		return withExit(ExitUsage, fmt.Errorf("--drain-grace must be positive, not %s", o.drainGrace))
	}
	if o.dir != "" {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return withExit(ExitUsage, fmt.Errorf("--dir: %w", err))
		}
	}
	_, err := demo.Run(ctx, demo.Options{Out: out, Dir: o.dir, KeepRunning: o.keepRunning, DrainGrace: o.drainGrace})
	return demoExit(err)
}

// demoExit maps a demo error to the CLI's exit codes: a failed step is a
// verification failure (3), a used --dir a usage error (2), anything else internal (5).
func demoExit(err error) error {
	if err == nil {
		return nil
	}
	var se *demo.StepError
	switch {
	case errors.As(err, &se):
		return withExit(ExitVerifyFailed, err)
	case errors.Is(err, demo.ErrDirNotEmpty):
		return withExit(ExitUsage, err)
	}
	return withExit(ExitInternal, err)
}
