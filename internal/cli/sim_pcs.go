package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/sim"
)

// simPCSOptions are the flags of "sim pcs".
type simPCSOptions struct {
	dir    string
	listen string
}

func newSimPCSCmd() *cobra.Command {
	o := &simPCSOptions{}
	cmd := &cobra.Command{
		Use:   "pcs --dir DIR --listen ADDR",
		Short: "Serve the simulated platform's collateral on the Intel PCS v4 paths",
		Long: `Serve TCB Info, QE Identity and CRLs of the simulated platform in DIR over HTTP
on the Intel PCS v4 paths, with Intel's response headers, until interrupted.
Point a collateral client at it: sgxops quote verify QUOTE --pcs http://ADDR
--insecure-simulation-root DIR/root-ca.pem. Collateral is issued at request time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runSimPCS(ctx, cmd.ErrOrStderr(), o, nil)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "state directory (required)")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on (host:port; port 0 picks one)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// runSimPCS serves until ctx is done. ready, when not nil, is called with the
// bound address once the listener is open.
func runSimPCS(ctx context.Context, stderr io.Writer, o *simPCSOptions, ready func(addr string)) error {
	p, err := loadSim(o.dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return withExit(ExitUsage, fmt.Errorf("--listen: %w", err))
	}
	srv := &http.Server{Handler: sim.NewPCSServer(p), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "sgxops: SIMULATED PCS serving %s on http://%s\n", o.dir, ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return withExit(ExitInternal, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return withExit(ExitInternal, err)
	}
	return nil
}

// simCollateralOptions are the flags of "sim collateral".
type simCollateralOptions struct {
	dir string
	tee string
	out string
}

func newSimCollateralCmd() *cobra.Command {
	o := &simCollateralOptions{}
	cmd := &cobra.Command{
		Use:   "collateral --dir DIR [--tee sgx|tdx]",
		Short: "Write the simulated platform's collateral as an offline bundle (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimCollateral(cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "state directory (required)")
	cmd.Flags().StringVar(&o.tee, "tee", "sgx", "collateral for sgx or tdx quotes")
	cmd.Flags().StringVarP(&o.out, "out", "O", "", "write the bundle to this file instead of stdout")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runSimCollateral(stdout io.Writer, o *simCollateralOptions) error {
	tee := sim.TEE(o.tee)
	if tee != sim.TEESGX && tee != sim.TEETDX {
		return withExit(ExitUsage, fmt.Errorf("--tee must be sgx or tdx, not %q", o.tee))
	}
	p, err := loadSim(o.dir)
	if err != nil {
		return err
	}
	c, err := p.Collateral(p.Request(tee))
	if err != nil {
		return withExit(ExitInternal, err)
	}
	b, err := c.MarshalBundle()
	if err != nil {
		return withExit(ExitInternal, err)
	}
	b = append(b, '\n')
	if o.out != "" {
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return withExit(ExitInternal, err)
		}
		return nil
	}
	if _, err := stdout.Write(b); err != nil {
		return withExit(ExitInternal, err)
	}
	return nil
}
