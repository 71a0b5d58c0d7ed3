package collateral

import (
	"fmt"
	"net/url"
	"strings"
)

// ServiceError reports a refused collateral-service configuration, naming
// the field at fault.
type ServiceError struct {
	Field  string // "pcs", "pccs", "thim", "api key", "insecure PCCS TLS", "source"
	Reason string
}

func (e *ServiceError) Error() string { return "collateral: " + e.Field + ": " + e.Reason }

// Network selects one network collateral service. It is the one construction
// path of the sgxops CLI and attestd. The zero value selects none.
type Network struct {
	PCS  string // base URL of Intel PCS v4 or a service with its paths
	PCCS string // base URL of a PCCS
	THIM string // base URL of Azure THIM
	// APIKey is Intel PCS's subscription key; only with PCS.
	APIKey string
	// InsecurePCCSTLS accepts any TLS certificate from the PCCS; only with PCCS.
	InsecurePCCSTLS bool
}

// Validate checks that at most one service is selected, that every URL is a
// base URL (CheckServiceURL), and that the PCS key and the PCCS TLS exception
// come only with their service.
func (n Network) Validate() error {
	set := 0
	for _, u := range []struct{ field, v string }{{"pcs", n.PCS}, {"pccs", n.PCCS}, {"thim", n.THIM}} {
		if u.v == "" {
			continue
		}
		set++
		if err := CheckServiceURL(u.v); err != nil {
			return &ServiceError{Field: u.field, Reason: err.Error()}
		}
	}
	switch {
	case set > 1:
		return &ServiceError{Field: "source", Reason: "give only one of pcs, pccs and thim"}
	case n.APIKey != "" && n.PCS == "":
		return &ServiceError{Field: "api key", Reason: "applies only to pcs"}
	case n.InsecurePCCSTLS && n.PCCS == "":
		return &ServiceError{Field: "insecure PCCS TLS", Reason: "applies only to pccs"}
	}
	return nil
}

// Source validates n and returns the selected service (uncached) and its base
// URL without a trailing slash; nil and "" when none is selected.
func (n Network) Source() (Source, string, error) {
	if err := n.Validate(); err != nil {
		return nil, "", err
	}
	switch {
	case n.PCS != "":
		return &PCS{BaseURL: n.PCS, APIKey: n.APIKey}, strings.TrimRight(n.PCS, "/"), nil
	case n.PCCS != "":
		return &PCCS{BaseURL: n.PCCS, InsecureSkipTLSVerify: n.InsecurePCCSTLS}, strings.TrimRight(n.PCCS, "/"), nil
	case n.THIM != "":
		return &THIM{BaseURL: n.THIM}, strings.TrimRight(n.THIM, "/"), nil
	}
	return nil, "", nil
}

// CheckServiceURL accepts an absolute http(s) base URL with a host and no
// query string, fragment or user info: request paths and queries are
// appended to it, so anything after the path would be misplaced.
func CheckServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want an http(s) base URL such as https://host[:port]", s)
	}
	return nil
}
