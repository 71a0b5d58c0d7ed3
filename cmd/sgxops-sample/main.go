// Command sgxops-sample runs the sgxops sample confidential service
// (package examples/aggregate): clients provision numbers over an attested
// channel and get their aggregate back, encrypted.
//
// It runs in simulation by default (a SIMULATED SGX platform whose state is
// kept in --sim-dir; attestd must trust that directory's root-ca.pem with
// --insecure-simulation-root). Under Gramine on SGX hardware use
// --provider gramine (see examples/aggregate/gramine).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/buildinfo"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/sim"
)

func main() {
	sub := map[string]func([]string, io.Writer, io.Writer) error{"client": runClient, "oneshot": runOneshot, "version": runVersion}
	if len(os.Args) > 1 && sub[os.Args[1]] != nil {
		if err := sub[os.Args[1]](os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "sgxops-sample:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sgxops-sample:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("sgxops-sample", flag.ContinueOnError)
	listen := fl.String("listen", "127.0.0.1:8443", "address to listen on (plain HTTP; the attested channel encrypts the data)")
	version := fl.String("version", "v1", "version of this build")
	provider := fl.String("provider", "sim", "quote provider: sim (SIMULATED), gramine, or tsm (configfs-tsm)")
	simDir := fl.String("sim-dir", "sgxops-sim", "simulated platform state (created if missing); sim provider only")
	debug := fl.Bool("sim-debug", false, "simulate a DEBUG enclave (verifiers must reject it); sim provider only")
	gramineDir := fl.String("gramine-dir", ra.DefaultGramineDir, "Gramine attestation directory; gramine provider only")
	writeSGXS := fl.String("write-sgxs", "", "write the simulated build's SGXS measurement stream to this file and exit")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *writeSGXS != "" {
		return aggregate.WriteImage(*writeSGXS, *version)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	var (
		p    ra.QuoteProvider
		name string
	)
	switch *provider {
	case "sim":
		plat, err := loadOrInit(*simDir)
		if err != nil {
			return err
		}
		m, err := aggregate.Measure(*version)
		if err != nil {
			return err
		}
		sp := &ra.SimulatedProvider{Platform: plat, Identity: aggregate.SimulatedIdentity(m, *debug)}
		p, name = sp, sp.Name()
		log = log.With("simulated", true)
		log.Warn("SIMULATED enclave: no confidentiality, for testing the pipeline only",
			"mrenclave", fmt.Sprintf("%x", m.MREnclave), "sim_dir", *simDir, "debug", *debug)
	case "gramine":
		g := &ra.GramineProvider{Dir: *gramineDir}
		p, name = g, g.Name()
	case "tsm":
		t := &ra.TSMProvider{}
		p, name = t, t.Name()
	default:
		return fmt.Errorf("--provider must be sim, gramine or tsm, not %q", *provider)
	}
	svc := &aggregate.Service{Version: *version, Provider: p, ProviderName: name}
	h, err := svc.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving", "app", aggregate.App, "version", *version, "provider", name, "url", "http://"+ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadOrInit loads the simulated platform in dir, or makes a fresh one there.
func loadOrInit(dir string) (*sim.Platform, error) {
	p, err := sim.Load(dir, sim.Options{})
	if err == nil {
		return p, nil
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		return nil, err
	}
	if p, err = sim.NewRandom(sim.Config{}, sim.Options{}); err != nil {
		return nil, err
	}
	return p, p.Save(dir)
}

// runVersion prints the binary's build (module version, VCS revision, Go
// version). It is not the --version flag, which names the simulated build the
// sample serves and so its MRENCLAVE.
func runVersion(args []string, stdout, _ io.Writer) error {
	if len(args) != 0 {
		return fmt.Errorf("version takes no arguments")
	}
	_, err := fmt.Fprintln(stdout, buildinfo.Read().String("sgxops-sample"))
	return err
}
