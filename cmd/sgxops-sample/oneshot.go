package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/sim"
)

// runOneshot is "sgxops-sample oneshot": the sample as a one-shot enclave job
// (the oe-helloworld pattern, on the SIMULATED platform): it aggregates the
// values once inside the simulated enclave of the given version, has the
// platform quote a report that binds the result, prints one line and exits.
func runOneshot(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("sgxops-sample oneshot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	version := fl.String("version", "v1", "version of this build")
	simDir := fl.String("sim-dir", "", "the SIMULATED platform's state (sgxops sim init); required")
	values := fl.String("values", "3,1,4,1,5,9,2,6", "comma-separated numbers to aggregate")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *simDir == "" {
		return errors.New("oneshot: --sim-dir is required")
	}
	plat, err := sim.Load(*simDir, sim.Options{})
	if err != nil {
		return fmt.Errorf("oneshot: %w", err)
	}
	nums, err := parseValues(*values)
	if err != nil {
		return err
	}
	res, err := aggregate.Aggregate(nums)
	if err != nil {
		return fmt.Errorf("oneshot: %w", err)
	}
	res.Version = *version
	m, err := aggregate.Measure(*version)
	if err != nil {
		return err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	var rd [64]byte
	sum := sha256.Sum256(body)
	copy(rd[:], sum[:])
	p := &ra.SimulatedProvider{Platform: plat, Identity: aggregate.SimulatedIdentity(m, false)}
	q, err := p.Quote(rd)
	if err != nil {
		return fmt.Errorf("oneshot: quote: %w", err)
	}
	fmt.Fprintf(stdout, "hello from the SIMULATED enclave %s %s (MRENCLAVE %x): count %d, sum %g, mean %g; %d-byte quote binds sha256(result) %x\n",
		aggregate.App, *version, m.MREnclave, res.Count, res.Sum, res.Mean, len(q), sum)
	return nil
}
