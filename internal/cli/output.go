package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// outputFormat is the value of the --output flag shared by the commands.
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

func parseOutput(s string) (outputFormat, error) {
	switch outputFormat(s) {
	case outputText, outputJSON:
		return outputFormat(s), nil
	}
	return "", withExit(ExitUsage, fmt.Errorf("--output must be text or json, not %q", s))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
