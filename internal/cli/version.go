package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the module version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			return runVersion(cmd.OutOrStdout(), buildinfo.Read(), format)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runVersion(w io.Writer, i buildinfo.Info, format outputFormat) error {
	var err error
	if format == outputJSON {
		err = writeJSON(w, i)
	} else {
		_, err = fmt.Fprintln(w, i.String("sgxops"))
	}
	return withExit(ExitInternal, err)
}
