package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// QCNLConfig is where Intel's quote provider library (QPL, QCNL) reads its
// settings: JSON (DCAP >= 1.14, comments allowed) or the legacy KEY=VALUE form.
const QCNLConfig = "/etc/sgx_default_qcnl.conf"

// quoteProviderPaths are where the DCAP quote library loads its quote provider.
var quoteProviderPaths = []string{
	"/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so.1",
	"/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so",
	"/usr/lib64/libdcap_quoteprov.so.1",
	"/usr/lib/libdcap_quoteprov.so.1",
	"/usr/lib/libdcap_quoteprov.so",
}

// Quote provider flavours.
const (
	providerNone   = ""
	providerIntel  = "intel" // libsgx-dcap-default-qpl: reads QCNLConfig
	providerAzure  = "azure" // az-dcap-client: reads AZDCAP_* settings, THIM
	providerBroken = "broken"
)

// qcnl is the parsed quote-provider configuration.
type qcnl struct {
	form          string // "json" or "legacy"
	pccsURL       string
	useSecureCert bool
	collateralURL string
	localPCKURL   string
}

type qcnlResult struct {
	provider     string
	providerPath string
	providerErr  string
	cfg          *qcnl // nil when absent or malformed
	present      bool
	err          error
	qplVersion   string // dpkg version of libsgx-dcap-default-qpl, "" unknown
}

func (e *env) quoteProvider() *qcnlResult {
	if e.qcnl != nil {
		return e.qcnl
	}
	r := &qcnlResult{}
	for _, p := range quoteProviderPaths {
		if _, err := os.Lstat(e.path(p)); err != nil {
			continue
		}
		r.providerPath = p
		b, err := e.readFile(p)
		if err != nil || len(b) == 0 {
			r.provider, r.providerErr = providerBroken, "unreadable or empty (dangling link?)"
			break
		}
		r.providerPath = p
		r.provider = providerIntel
		if bytes.Contains(b, []byte("AZDCAP_")) {
			r.provider = providerAzure
		}
		break
	}
	b, err := e.readFile(QCNLConfig)
	if err == nil {
		r.present = true
		r.cfg, r.err = parseQCNL(b)
	}
	r.qplVersion = dpkgVersion(e, "libsgx-dcap-default-qpl")
	e.qcnl = r
	return r
}

// parseQCNL reads either form of the QCNL configuration.
func parseQCNL(b []byte) (*qcnl, error) {
	clean := stripJSONComments(b)
	if t := bytes.TrimSpace(clean); len(t) > 0 && t[0] == '{' {
		var raw map[string]any
		if err := json.Unmarshal(t, &raw); err != nil {
			return nil, fmt.Errorf("JSON form: %v", err)
		}
		c := &qcnl{form: "json", useSecureCert: true}
		str := func(k string) (string, error) {
			v, ok := raw[k]
			if !ok {
				return "", nil
			}
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("JSON form: %q must be a string", k)
			}
			return strings.TrimSpace(s), nil
		}
		var err error
		if c.pccsURL, err = str("pccs_url"); err != nil {
			return nil, err
		}
		if c.collateralURL, err = str("collateral_service"); err != nil {
			return nil, err
		}
		if c.localPCKURL, err = str("local_pck_url"); err != nil {
			return nil, err
		}
		if v, ok := raw["use_secure_cert"]; ok {
			bv, isBool := v.(bool)
			if !isBool {
				return nil, errors.New(`JSON form: "use_secure_cert" must be true or false`)
			}
			c.useSecureCert = bv
		}
		return c, nil
	}
	c := &qcnl{form: "legacy", useSecureCert: true}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			return nil, fmt.Errorf("legacy form line %d: want KEY=VALUE", n)
		}
		v = strings.TrimSpace(v)
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "PCCS_URL":
			c.pccsURL = v
		case "USE_SECURE_CERT":
			switch strings.ToUpper(v) {
			case "TRUE":
				c.useSecureCert = true
			case "FALSE":
				c.useSecureCert = false
			default:
				return nil, fmt.Errorf("legacy form line %d: USE_SECURE_CERT must be TRUE or FALSE", n)
			}
		case "LOCAL_PCK_URL":
			c.localPCKURL = v
		case "COLLATERAL_SERVICE":
			c.collateralURL = v
		}
	}
	return c, nil
}

// stripJSONComments removes // and /* */ comments and trailing commas outside
// strings (Intel's QCNL parser accepts both).
func stripJSONComments(b []byte) []byte {
	var out []byte
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out = append(out, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
			out = append(out, '\n')
			continue
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			i += end + 3
			continue
		case c == ',':
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && (b[j] == '}' || b[j] == ']') {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// dpkgVersion returns pkg's installed version from /var/lib/dpkg/status, or "".
func dpkgVersion(e *env, pkg string) string {
	b, err := e.readFile("/var/lib/dpkg/status")
	if err != nil {
		return ""
	}
	for _, stanza := range strings.Split(string(b), "\n\n") {
		var name, version string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Version: "); ok {
				version = strings.TrimSpace(v)
			}
		}
		if name == pkg {
			return version
		}
	}
	return ""
}

// checkQuoteProvider: which quote provider library the DCAP quote library loads.
func checkQuoteProvider(_ context.Context, e *env) Result {
	const id = "quote.provider"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	q := e.quoteProvider()
	switch q.provider {
	case providerIntel:
		return ok(id, "Intel quote provider library (QPL) at "+q.providerPath+": reads "+QCNLConfig)
	case providerAzure:
		return ok(id, "Azure DCAP client at "+q.providerPath+": reads AZDCAP_* settings, fetches from THIM")
	case providerBroken:
		return fail(id, q.providerPath+" is "+q.providerErr+": quote generation fails to load its provider",
			"reinstall the provider package (libsgx-dcap-default-qpl or az-dcap-client) so the library and its links are complete")
	}
	return warn(id, "no quote provider library (libdcap_quoteprov.so.1) on this host: only containers that bring their own can make quotes",
		"on AKS enable the confcom add-on's quote helper (or ship az-dcap-client in the image); elsewhere install libsgx-dcap-default-qpl and configure "+QCNLConfig)
}

// checkQCNLConfig: QCNLConfig parses and fits the installed provider.
func checkQCNLConfig(_ context.Context, e *env) Result {
	const id = "quote.qcnl-config"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	q := e.quoteProvider()
	switch {
	case !q.present && q.provider == providerIntel:
		return fail(id, "Intel QPL installed but "+QCNLConfig+" missing: quotes cannot get PCK certificates",
			"write "+QCNLConfig+" with pccs_url pointing at your PCCS (or Azure THIM on Azure)")
	case !q.present:
		return ok(id, QCNLConfig+" absent (not needed without Intel's QPL)")
	case q.err != nil:
		return fail(id, QCNLConfig+" is malformed: "+q.err.Error(),
			"fix the file: JSON form as in Intel's sgx_default_qcnl.conf (DCAP >= 1.14), or KEY=VALUE lines in the legacy form")
	case q.provider == providerAzure && q.cfg.pccsURL != "":
		return warn(id, QCNLConfig+" sets pccs_url but the installed provider is the Azure DCAP client, which ignores the file",
			"configure the Azure DCAP client (AZDCAP_BASE_CERT_URL) instead, or install Intel's QPL if you want the PCCS")
	case q.cfg.pccsURL == "":
		return fail(id, QCNLConfig+" ("+q.cfg.form+" form) has no pccs_url",
			"set pccs_url to your PCCS, e.g. https://pccs.example:8081/sgx/certification/v4/")
	}
	return ok(id, fmt.Sprintf("%s (%s form): pccs_url %s, use_secure_cert %t", QCNLConfig, q.cfg.form, q.cfg.pccsURL, q.cfg.useSecureCert))
}

// checkPCCSReachable: the configured PCCS answers, with TLS verification as
// use_secure_cert asks.
func checkPCCSReachable(ctx context.Context, e *env) Result {
	const id = "quote.pccs-reachable"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	q := e.quoteProvider()
	if q.cfg == nil || q.cfg.pccsURL == "" || q.provider == providerAzure {
		return ok(id, "no PCCS configured for the installed quote provider")
	}
	u := strings.TrimSuffix(q.cfg.pccsURL, "/") + "/rootcacrl"
	client := e.client
	if !q.cfg.useSecureCert {
		client = insecureClient(e.client)
	}
	status, err := get(ctx, client, u)
	if err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		var hn x509.HostnameError
		var tv *tls.CertificateVerificationError
		if errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &tv) {
			return fail(id, "use_secure_cert is true but the PCCS's TLS certificate does not verify (self-signed?): "+shortErr(err),
				"give the PCCS a certificate from a CA the node trusts (or add its CA to the system store); set use_secure_cert false only for a test PCCS")
		}
		return fail(id, "PCCS unreachable at "+q.cfg.pccsURL+": "+shortErr(err),
			"start the PCCS or fix pccs_url in "+QCNLConfig+" (host, port, path /sgx/certification/v4/), and open the firewall")
	}
	note := ""
	if !q.cfg.useSecureCert {
		note = " (TLS not verified: use_secure_cert false)"
	}
	if status >= 500 {
		return warn(id, fmt.Sprintf("PCCS at %s answers HTTP %d%s", q.cfg.pccsURL, status, note),
			"check the PCCS's log (its Intel PCS API key, its database)")
	}
	return ok(id, fmt.Sprintf("PCCS at %s answers (HTTP %d)%s", q.cfg.pccsURL, status, note))
}

// checkLocalPCKURL: local_pck_url with a QPL version known to crash with it.
// Intel DCAP issue #366 ("Crash when using local_pck_url on Azure since
// v1.20"): the QPL of DCAP 1.20 crashes in sgx_qe_get_target_info when
// local_pck_url is set (as in Intel's sgx_default_qcnl_azure.conf).
func checkLocalPCKURL(_ context.Context, e *env) Result {
	const id = "quote.local-pck-url"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	q := e.quoteProvider()
	if q.cfg == nil || q.cfg.localPCKURL == "" {
		return ok(id, "local_pck_url not set")
	}
	const fix = "remove (comment out) local_pck_url, or upgrade the QPL past 1.20: DCAP 1.20's QPL crashes in sgx_qe_get_target_info with local_pck_url set (Intel DCAP issue #366); earlier versions (1.14-1.19) are not affected"
	switch {
	case q.qplVersion == "":
		return warn(id, "local_pck_url set and the QPL version is unknown (no dpkg record of libsgx-dcap-default-qpl)", fix)
	case strings.HasPrefix(q.qplVersion, "1.20.") || strings.HasPrefix(q.qplVersion, "1.20-"):
		return fail(id, "local_pck_url set with libsgx-dcap-default-qpl "+q.qplVersion+", which crashes with it", fix)
	}
	return ok(id, "local_pck_url set; libsgx-dcap-default-qpl "+q.qplVersion+" is not the version known to crash with it (1.20)")
}

// Azure DCAP client settings (environment variables of the quoting process).
const (
	envAZDCAPBaseURL  = "AZDCAP_BASE_CERT_URL"
	envAZDCAPClientID = "AZDCAP_CLIENT_ID"
)

// checkAzureDCAP: the Azure DCAP client's settings against the installed provider.
func checkAzureDCAP(_ context.Context, e *env) Result {
	const id = "quote.azure-dcap"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	q := e.quoteProvider()
	base := e.opts.Env[envAZDCAPBaseURL]
	switch {
	case q.provider != providerAzure && base != "":
		return warn(id, envAZDCAPBaseURL+" is set but the installed quote provider is not the Azure DCAP client: it is ignored",
			"install az-dcap-client (or drop the AZDCAP_* settings and configure "+QCNLConfig+")")
	case q.provider != providerAzure:
		return ok(id, "Azure DCAP client not installed")
	case base == "":
		return ok(id, "Azure DCAP client with its default (the VM's local THIM endpoint)")
	}
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return fail(id, envAZDCAPBaseURL+" "+strconv.Quote(base)+" is not an http(s) URL", "set it to the THIM base URL, e.g. https://REGION.thim.azure.net")
	}
	if e.opts.Env[envAZDCAPClientID] == "" {
		return warn(id, envAZDCAPBaseURL+" set without "+envAZDCAPClientID, "set AZDCAP_CLIENT_ID to identify your client to THIM")
	}
	return ok(id, "Azure DCAP client with "+envAZDCAPBaseURL+" "+base)
}

// insecureClient is c with TLS verification off (QCNL use_secure_cert false).
func insecureClient(c *http.Client) *http.Client {
	cp := *c
	var tr *http.Transport
	if t, ok := c.Transport.(*http.Transport); ok && t != nil {
		tr = t.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.InsecureSkipVerify = true
	cp.Transport = tr
	return &cp
}

// get performs GET u and returns the status code (the body is drained).
func get(ctx context.Context, c *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// shortErr keeps one line of err.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
