package cli

// Exit codes of the sgxops command. They are part of the CLI contract and are
// documented in docs/cli.md; scripts may rely on them.
const (
	// ExitOK means the command did what was asked (for verify: the quote verified).
	ExitOK = 0
	// ExitInvalidInput means an input file or value is malformed (truncated, wrong magic, bad hex ...).
	ExitInvalidInput = 1
	// ExitUsage means the command line itself is wrong (unknown flag, missing argument).
	ExitUsage = 2
	// ExitVerifyFailed means the input parsed but did not verify (bad signature, broken chain,
	// revoked, no matching TCB level, measurement mismatch).
	ExitVerifyFailed = 3
	// ExitCollateral means the collateral needed to decide was unavailable or expired.
	ExitCollateral = 4
	// ExitInternal means an unexpected failure (I/O error writing output, a bug).
	ExitInternal = 5
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExit wraps err so that Main exits with code.
func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}
