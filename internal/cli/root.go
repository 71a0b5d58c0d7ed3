// Package cli implements the sgxops command line: one newXCmd constructor per
// command, options in structs, logic in testable functions. cmd/sgxops only calls Main.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// commands are the constructors of the top-level commands, in one explicit
// list (a new command is added here, not by an init side effect).
func commands() []func() *cobra.Command {
	return []func() *cobra.Command{
		newAttestCmd,
		newAuditCmd,
		newCollateralCmd,
		newDemoCmd,
		newDoctorCmd,
		newMeasureCmd,
		newProbeCmd,
		newQuoteCmd,
		newRolloutCmd,
		newSelfCopyCmd,
		newSimCmd,
		newVersionCmd,
	}
}

// NewRootCmd builds the sgxops command tree.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sgxops",
		Short:         "Operate Intel SGX remote attestation: measure, verify, simulate, attest, roll out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return withExit(ExitUsage, err) })
	for _, newCmd := range commands() {
		root.AddCommand(newCmd())
	}
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != ExitOK {
			fmt.Fprintln(stderr, "sgxops:", ee.err)
		}
		return ee.code
	}
	// cobra's own argument and unknown-command errors are usage errors.
	fmt.Fprintln(stderr, "sgxops:", err)
	return ExitUsage
}
