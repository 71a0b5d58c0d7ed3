package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// simQuoteOptions are the flags of "sim quote".
type simQuoteOptions struct {
	dir        string
	mrenclave  string
	mrsigner   string
	isvProdID  uint16
	isvSVN     uint16
	debug      bool
	enclave    string
	reportData string
	tdx        bool
	mrtd       string
	out        string
}

func newSimQuoteCmd() *cobra.Command {
	o := &simQuoteOptions{}
	cmd := &cobra.Command{
		Use:   "quote --dir DIR (--mrenclave HEX --mrsigner HEX | --enclave FILE) --report-data HEX",
		Short: "Produce a DCAP quote from the simulated quoting enclave",
		Long: `Produce a DCAP v3 SGX quote (raw bytes, on stdout unless --out) signed by the
simulated platform in DIR, for the enclave identity given by --mrenclave,
--mrsigner, --isv-prod-id, --isv-svn and --debug, or taken from a signed enclave
file with --enclave (anything "sgxops measure" reads). --report-data is up to
64 bytes of hex, zero-padded on the right. With --tdx it produces a TDX v4
quote for the TD with MRTD --mrtd instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimQuote(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "state directory (required)")
	f.StringVar(&o.mrenclave, "mrenclave", "", "MRENCLAVE, 32 bytes of hex")
	f.StringVar(&o.mrsigner, "mrsigner", "", "MRSIGNER, 32 bytes of hex")
	f.Uint16Var(&o.isvProdID, "isv-prod-id", 0, "ISVPRODID")
	f.Uint16Var(&o.isvSVN, "isv-svn", 0, "ISVSVN")
	f.BoolVar(&o.debug, "debug", false, "set the DEBUG attribute (a debug enclave or TD)")
	f.StringVar(&o.enclave, "enclave", "", "take the identity from this signed enclave file")
	f.StringVar(&o.reportData, "report-data", "", "report data, up to 64 bytes of hex (required)")
	f.BoolVar(&o.tdx, "tdx", false, "produce a TDX v4 quote instead of an SGX v3 quote")
	f.StringVar(&o.mrtd, "mrtd", "", "MRTD of the TD (with --tdx), 48 bytes of hex")
	f.StringVarP(&o.out, "out", "O", "", "write the quote to this file instead of stdout")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("report-data")
	return cmd
}

// hexFlag decodes a hex flag value of exactly n bytes (at most n when pad).
func hexFlag(name, v string, n int, pad bool) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(v), "0x"))
	if err != nil {
		return nil, withExit(ExitUsage, fmt.Errorf("--%s: not hex: %w", name, err))
	}
	if len(b) > n || (!pad && len(b) != n) {
		want := fmt.Sprintf("%d bytes", n)
		if pad {
			want = "at most " + want
		}
		return nil, withExit(ExitUsage, fmt.Errorf("--%s: %d bytes, want %s", name, len(b), want))
	}
	out := make([]byte, n)
	copy(out, b)
	return out, nil
}

// simIdentity builds the enclave identity from the flags or the enclave file.
func simIdentity(o *simQuoteOptions) (sim.Identity, error) {
	var id sim.Identity
	if o.enclave != "" {
		if o.mrenclave != "" || o.mrsigner != "" {
			return id, withExit(ExitUsage, errors.New("--enclave and --mrenclave/--mrsigner are exclusive"))
		}
		m, err := enclave.Measure(o.enclave)
		if err != nil {
			return id, withExit(ExitInvalidInput, err)
		}
		if m.Sigstruct == nil {
			return id, withExit(ExitInvalidInput, fmt.Errorf("%s: no SIGSTRUCT, so no MRSIGNER/ISVPRODID/ISVSVN to quote", o.enclave))
		}
		if o.debug && m.Debug == enclave.DebugForbidden {
			return id, withExit(ExitUsage, fmt.Errorf("--debug: the SIGSTRUCT of %s forbids debug launches", o.enclave))
		}
		id = sim.Identity{
			MREnclave: m.MREnclave, MRSigner: m.MRSigner, ISVProdID: m.ISVProdID, ISVSVN: m.ISVSVN,
			Attributes: m.Attributes, MiscSelect: m.MiscSelect,
		}
		// A launched enclave has INIT set; DEBUG follows the launch (forced by
		// the signer, or chosen with --debug where the signer allows it).
		id.Attributes.Flags |= sgx.AttrInit
		id.Attributes.Flags &^= sgx.AttrDebug
		if o.debug || m.Debug == enclave.DebugRequired {
			id.Attributes.Flags |= sgx.AttrDebug
		}
		return id, nil
	}
	if o.mrenclave == "" || o.mrsigner == "" {
		return id, withExit(ExitUsage, errors.New("give --mrenclave and --mrsigner, or --enclave FILE"))
	}
	mre, err := hexFlag("mrenclave", o.mrenclave, 32, false)
	if err != nil {
		return id, err
	}
	mrs, err := hexFlag("mrsigner", o.mrsigner, 32, false)
	if err != nil {
		return id, err
	}
	id = sim.Identity{
		MREnclave: [32]byte(mre), MRSigner: [32]byte(mrs), ISVProdID: o.isvProdID, ISVSVN: o.isvSVN,
		Attributes: sim.DefaultAttributes,
	}
	if o.debug {
		id.Attributes.Flags |= sgx.AttrDebug
	}
	return id, nil
}

func runSimQuote(stdout io.Writer, o *simQuoteOptions) error {
	rd, err := hexFlag("report-data", o.reportData, 64, true)
	if err != nil {
		return err
	}
	var quote []byte
	if o.tdx {
		if o.enclave != "" || o.mrenclave != "" || o.mrsigner != "" {
			return withExit(ExitUsage, errors.New("--tdx takes --mrtd, not an enclave identity"))
		}
		var id sim.TDIdentity
		if o.mrtd != "" {
			b, err := hexFlag("mrtd", o.mrtd, 48, false)
			if err != nil {
				return err
			}
			id.MRTD = [48]byte(b)
		}
		if o.debug {
			id.TDAttributes = sim.DefaultTDAttributes
			id.TDAttributes[0] |= 1
		}
		p, err := loadSim(o.dir)
		if err != nil {
			return err
		}
		if quote, err = p.TDQuote(id, [64]byte(rd)); err != nil {
			return withExit(ExitInternal, err)
		}
	} else {
		if o.mrtd != "" {
			return withExit(ExitUsage, errors.New("--mrtd needs --tdx"))
		}
		id, err := simIdentity(o)
		if err != nil {
			return err
		}
		p, err := loadSim(o.dir)
		if err != nil {
			return err
		}
		if quote, err = p.Quote(id, [64]byte(rd)); err != nil {
			return withExit(ExitInternal, err)
		}
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, quote, 0o644); err != nil {
			return withExit(ExitInternal, err)
		}
		return nil
	}
	if _, err := stdout.Write(quote); err != nil {
		return withExit(ExitInternal, err)
	}
	return nil
}
