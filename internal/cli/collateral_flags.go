package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/sgxops/sgxops/collateral"
)

// envPCSAPIKey is read when --pcs-api-key is not given, so that the key need not
// appear on command lines (and in process listings).
const envPCSAPIKey = "SGXOPS_PCS_API_KEY"

// collateralFlags is the flag group of every sgxops command that needs
// collateral (quote verify, collateral fetch, sim). Exactly one of Bundle, PCS,
// PCCS and THIM selects the source. The network source is built by
// collateral.Network, the construction path attestd uses too.
type collateralFlags struct {
	Bundle          string // --collateral FILE: an offline bundle
	PCS             string // --pcs URL: Intel PCS v4 (or a service mirroring it)
	PCCS            string // --pccs URL: a PCCS
	THIM            string // --thim URL: Azure THIM
	APIKey          string // --pcs-api-key: Ocp-Apim-Subscription-Key for --pcs
	InsecurePCCSTLS bool   // --insecure-pccs-tls: accept any TLS certificate from --pccs
}

// addFlags registers the whole group, --collateral included.
func (f *collateralFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Bundle, "collateral", "", "offline collateral bundle (dcap-qvl JSON, as written by \"sgxops collateral fetch\")")
	f.addNetworkFlags(fs)
}

// addNetworkFlags registers the network sources only (for commands such as
// "collateral fetch" that make bundles rather than read them).
func (f *collateralFlags) addNetworkFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.PCS, "pcs", "", "base URL of Intel PCS (API v4) or a service with the same paths")
	fs.StringVar(&f.PCCS, "pccs", "", "base URL of a PCCS (Provisioning Certificate Caching Service)")
	fs.StringVar(&f.THIM, "thim", "", "base URL of Azure THIM (its TCB Info may lag behind Intel's)")
	fs.StringVar(&f.APIKey, "pcs-api-key", "", "Intel PCS subscription key for --pcs (default $"+envPCSAPIKey+")")
	fs.BoolVar(&f.InsecurePCCSTLS, "insecure-pccs-tls", false, "accept any TLS certificate from --pccs (collateral stays Intel-signed, but can be withheld or replayed)")
}

// source returns the selected collateral source: a Bundle for --collateral, else
// the network source behind a Cache. A wrong combination is a usage error, an
// unreadable or malformed bundle an invalid-input error.
func (f *collateralFlags) source() (collateral.Source, error) {
	if f.Bundle != "" {
		if err := f.exactlyOne(); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(f.Bundle)
		if err != nil {
			return nil, withExit(ExitInvalidInput, fmt.Errorf("--collateral: %w", err))
		}
		c, err := collateral.ParseBundle(b)
		if err != nil {
			return nil, withExit(ExitInvalidInput, fmt.Errorf("--collateral %s: %w", f.Bundle, err))
		}
		return &collateral.Bundle{Collateral: c}, nil
	}
	src, err := f.networkSource()
	if err != nil {
		return nil, err
	}
	return collateral.NewCache(src, collateral.CacheOptions{}), nil
}

// networkSource returns the selected PCS, PCCS or THIM source, uncached.
func (f *collateralFlags) networkSource() (collateral.Source, error) {
	if err := f.exactlyOne(); err != nil {
		return nil, err
	}
	if f.Bundle != "" {
		return nil, withExit(ExitUsage, errors.New("--collateral reads a bundle; this command needs --pcs, --pccs or --thim"))
	}
	apiKey := f.APIKey
	if apiKey == "" {
		apiKey = os.Getenv(envPCSAPIKey)
	}
	if f.APIKey != "" && f.PCS == "" {
		return nil, withExit(ExitUsage, errors.New("--pcs-api-key applies only to --pcs"))
	}
	if f.InsecurePCCSTLS && f.PCCS == "" {
		return nil, withExit(ExitUsage, errors.New("--insecure-pccs-tls applies only to --pccs"))
	}
	for _, u := range []struct{ flag, v string }{{"--pcs", f.PCS}, {"--pccs", f.PCCS}, {"--thim", f.THIM}} {
		if u.v != "" {
			if err := checkServiceURL(u.flag, u.v); err != nil {
				return nil, err
			}
		}
	}
	if f.PCS == "" {
		apiKey = "" // $SGXOPS_PCS_API_KEY applies to --pcs only
	}
	src, _, err := collateral.Network{PCS: f.PCS, PCCS: f.PCCS, THIM: f.THIM, APIKey: apiKey, InsecurePCCSTLS: f.InsecurePCCSTLS}.Source()
	if err != nil {
		return nil, withExit(ExitUsage, err)
	}
	return src, nil
}

// exactlyOne checks that one source flag is set.
func (f *collateralFlags) exactlyOne() error {
	n := 0
	for _, v := range []string{f.Bundle, f.PCS, f.PCCS, f.THIM} {
		if v != "" {
			n++
		}
	}
	switch n {
	case 0:
		return withExit(ExitUsage, errors.New("no collateral source: give one of --collateral FILE, --pcs URL, --pccs URL, --thim URL"))
	case 1:
		return nil
	}
	return withExit(ExitUsage, errors.New("give only one of --collateral, --pcs, --pccs, --thim"))
}

// checkServiceURL rejects a source URL that is not a base URL
// (collateral.CheckServiceURL), naming the flag.
func checkServiceURL(flag, s string) error {
	if err := collateral.CheckServiceURL(s); err != nil {
		return withExit(ExitUsage, fmt.Errorf("%s %w", flag, err))
	}
	return nil
}
