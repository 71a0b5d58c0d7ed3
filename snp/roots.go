package snp

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
)

// amdRoots are the ARK, ASK and ASVK of each product line, from the KDS
// bundles embedded in go-sev-guest (its default roots carry no ASVK, so VLEK
// reports would not verify). "Unknown" holds every line: a v3 report whose
// CPUID go-sev-guest does not map (e.g. Siena, family 19h model A0h) is
// checked against all of them; the VEK's issuer must still name the line of
// the root it chains to.
var amdRoots = sync.OnceValues(func() (map[string][]*trust.AMDRootCerts, error) {
	lines := []struct {
		name       string
		vcek, vlek []byte
	}{
		{"Milan", trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes},
		{"Genoa", trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes},
		{"Turin", trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes},
	}
	out := map[string][]*trust.AMDRootCerts{}
	for _, l := range lines {
		r := trust.AMDRootCertsProduct(l.name)
		if err := r.FromKDSCertBytes(l.vcek); err != nil {
			return nil, fmt.Errorf("snp: embedded %s VCEK chain: %w", l.name, err)
		}
		asvk, _, err := kds.ParseProductCertChain(bytes.TrimSpace(l.vlek))
		if err != nil {
			return nil, fmt.Errorf("snp: embedded %s VLEK chain: %w", l.name, err)
		}
		if r.ProductCerts.Asvk, err = trust.ParseCert(asvk); err != nil {
			return nil, fmt.Errorf("snp: embedded %s ASVK: %w", l.name, err)
		}
		out[l.name] = []*trust.AMDRootCerts{r}
		out["Unknown"] = append(out["Unknown"], r)
	}
	return out, nil
})
