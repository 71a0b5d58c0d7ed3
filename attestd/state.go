package attestd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

// stateTTL bounds how stale the in-memory trust set and policies may be with
// respect to changes made by another process sharing the store (another
// replica). Changes made through this process invalidate at once.
const stateTTL = time.Second

// ttlCache holds a value loaded from the store for at most stateTTL, or
// until invalidated (changes made through this process invalidate at once).
// Loads happen under the lock, so concurrent callers share one.
type ttlCache[T any] struct {
	now  func() time.Time
	load func(context.Context) (T, error)

	mu     sync.Mutex
	v      T
	loaded time.Time
	valid  bool
}

func (c *ttlCache[T]) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

func (c *ttlCache[T]) get(ctx context.Context) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.valid && now.Sub(c.loaded) < stateTTL {
		return c.v, nil
	}
	v, err := c.load(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	c.v, c.loaded, c.valid = v, now, true
	return v, nil
}

// trustCache keeps the trust set (registry releases + configured app rules).
type trustCache struct {
	ttlCache[policy.TrustSet]
	reg           *registry.Registry
	rules         config.AppraisalConfig
	simConfigured bool
}

func newTrustCache(reg *registry.Registry, rules config.AppraisalConfig, simConfigured bool, now func() time.Time) *trustCache {
	c := &trustCache{reg: reg, rules: rules, simConfigured: simConfigured}
	c.ttlCache = ttlCache[policy.TrustSet]{now: now, load: c.loadTrustSet}
	return c
}

func (c *trustCache) loadTrustSet(ctx context.Context) (policy.TrustSet, error) {
	views, err := c.reg.List(ctx, "")
	if err != nil {
		return policy.TrustSet{}, err
	}
	var ts policy.TrustSet
	idx := map[string]int{}
	for _, v := range views {
		i, ok := idx[v.App]
		if !ok {
			i = len(ts.Apps)
			idx[v.App] = i
			ts.Apps = append(ts.Apps, c.app(v.App))
		}
		ts.Apps[i].Releases = append(ts.Apps[i].Releases, v.Release)
	}
	return ts, nil
}

// app returns the policy.App for name with its configured rules.
func (c *trustCache) app(name string) policy.App {
	r, ok := c.rules.Apps[name]
	if !ok {
		r = c.rules.Defaults
	}
	sim := c.simConfigured
	if r.AllowSimulated != nil {
		sim = *r.AllowSimulated
	}
	return policy.App{
		Name:                name,
		AcceptedTCBStatuses: r.AcceptedTCBStatuses,
		AcceptedAdvisoryIDs: r.AcceptedAdvisoryIDs,
		AllowDebug:          r.AllowDebug,
		AllowSimulated:      sim,
	}
}

// compiledPolicy is a parsed policy with what tokens need of it.
type compiledPolicy struct {
	text   string
	jws    string // the StoredAttestationPolicy JWS (unsigned for the default)
	hash   string // x-ms-policy-hash
	parsed *policy.Policy
	signer map[string]any // x-ms-policy-signer, nil if unsigned
	isDflt bool
}

func compilePolicy(text, jws string) (*compiledPolicy, error) {
	p, err := policy.Parse(text)
	if err != nil {
		return nil, err
	}
	cp := &compiledPolicy{text: text, jws: jws, hash: policy.PolicyHash(text), parsed: p}
	if jws != "" {
		if pj, err := decodePolicyJWS([]byte(jws)); err == nil && pj.Signer != nil {
			cp.signer = policySignerJWK(pj.Signer)
		}
	}
	return cp, nil
}

// policyCache keeps the parsed policy of each attestation type.
type policyCache struct {
	reg  *registry.Registry
	dflt *compiledPolicy
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]policyEntry
}

type policyEntry struct {
	p      *compiledPolicy
	loaded time.Time
}

func newPolicyCache(reg *registry.Registry, now func() time.Time) (*policyCache, error) {
	d, err := compilePolicy(policy.DefaultSGXPolicy, unsignedPolicyJWS(policy.DefaultSGXPolicy))
	if err != nil {
		return nil, err
	}
	d.isDflt = true
	return &policyCache{reg: reg, dflt: d, now: now, entries: map[string]policyEntry{}}, nil
}

func (c *policyCache) invalidate(typ string) {
	c.mu.Lock()
	delete(c.entries, typ)
	c.mu.Unlock()
}

// get returns the policy in force for typ: the stored one or the default.
func (c *policyCache) get(ctx context.Context, typ string) (*compiledPolicy, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[typ]
	c.mu.Unlock()
	if ok && now.Sub(e.loaded) < stateTTL {
		return e.p, nil
	}
	rec, err := c.reg.Policy(ctx, typ)
	var p *compiledPolicy
	switch {
	case errors.Is(err, store.ErrNotFound):
		p = c.dflt
	case err != nil:
		return nil, err
	default:
		if p, err = compilePolicy(rec.Text, rec.JWS); err != nil {
			// A stored policy that no longer parses (e.g. a stricter parser
			// after an upgrade) must not fall back to the permissive default.
			return nil, err
		}
	}
	c.mu.Lock()
	c.entries[typ] = policyEntry{p: p, loaded: now}
	c.mu.Unlock()
	return p, nil
}

// attestationTypes are the MAA attestation types; attestd implements the
// SGX, TDX and SEV-SNP ones.
var attestationTypes = []string{"SgxEnclave", "OpenEnclave", "Tpm", "SevSnpVm", "TdxVm", "AzureGuest"}

// canonicalType maps an attestation type case-insensitively to its MAA
// spelling and reports whether attestd supports it.
func canonicalType(s string) (string, bool, bool) {
	for _, t := range attestationTypes {
		if strings.EqualFold(s, t) {
			return t, t == "SgxEnclave" || t == "OpenEnclave" || t == "TdxVm" || t == "SevSnpVm", true
		}
	}
	return "", false, false
}
