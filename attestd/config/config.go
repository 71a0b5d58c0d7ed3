package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/release"
)

// Defaults of Config.
const (
	// DefaultListen is loopback only: exposing attestd is a deliberate choice.
	DefaultListen = "127.0.0.1:8443"
	// DefaultDataDir is relative to the working directory.
	DefaultDataDir = "attestd-data"
	// DefaultPCSURL is Intel's Provisioning Certification Service, used when no
	// collateral source is configured.
	DefaultPCSURL = "https://api.trustedservices.intel.com"
	// DefaultDrainGrace is the grace period of activate and drain calls that
	// name none.
	DefaultDrainGrace = time.Hour
	// DefaultShutdownTimeout bounds graceful shutdown.
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultClusterShutdownDelay is how long a replica on the Kubernetes
	// store keeps serving after SIGTERM with /readyz failing, so that its
	// endpoint is removed before it stops accepting connections.
	DefaultClusterShutdownDelay = 5 * time.Second
	// DefaultSigningKeySecret is the Secret holding the shared signing keys
	// on the Kubernetes store.
	DefaultSigningKeySecret = "attestd-signing-key"
)

// Store types of StoreConfig.Type.
const (
	StoreBolt       = "bbolt"
	StoreKubernetes = "kubernetes"
)

// Config is attestd's whole configuration. It flows defaults (Default)
// → file (LoadFile, JSON) → flags (ParseFlags) → Validate.
type Config struct {
	// Listen is the TCP address to serve on. Default 127.0.0.1:8443.
	Listen string `json:"listen"`
	// DataDir holds the signing key, the store (sgxops.db), the generated
	// development TLS certificate and admin token. Default ./attestd-data.
	DataDir string `json:"dataDir"`
	// Issuer is the public base URL: the token iss, and the root of jku and
	// jwks_uri. No trailing slash. Default: https://<listen> (http:// with
	// InsecureHTTP); required when Listen has no specific host.
	Issuer string `json:"issuer"`
	// TLS configures HTTPS. Without a certificate a development certificate
	// is generated in DataDir (with a warning).
	TLS TLSConfig `json:"tls"`
	// InsecureHTTP serves plain HTTP. Refused on non-loopback addresses unless
	// InsecureHTTPForce is set too.
	InsecureHTTP      bool `json:"insecureHTTP"`
	InsecureHTTPForce bool `json:"insecureHTTPForce"`
	// Collateral says where DCAP collateral comes from.
	Collateral CollateralConfig `json:"collateral"`
	// Auth configures admin authentication.
	Auth AuthConfig `json:"auth"`
	// Policy configures MAA policy management.
	Policy PolicyConfig `json:"policy"`
	// Appraisal holds the platform rules of the reference-value appraisal.
	Appraisal AppraisalConfig `json:"appraisal"`
	// Log configures the JSON log.
	Log LogConfig `json:"log"`
	// ShutdownTimeout bounds graceful shutdown. Default 15s.
	ShutdownTimeout Duration `json:"shutdownTimeout"`
	// ShutdownDelay is how long attestd keeps serving after SIGTERM while
	// /readyz already fails (so load balancers stop sending requests) before
	// it drains in-flight requests. Negative (the default): 5s with the
	// Kubernetes store, 0 otherwise.
	ShutdownDelay Duration `json:"shutdownDelay"`
	// Store selects where the trust set (and, on Kubernetes, the signing
	// keys) is kept.
	Store StoreConfig `json:"store"`
}

// StoreConfig selects the trust-set store.
type StoreConfig struct {
	// Type is "bbolt" (default: DataDir/sgxops.db, one process) or
	// "kubernetes" (custom resources in Namespace, shared by replicas).
	Type string `json:"type"`
	// Namespace holds the custom resources and the signing-key Secret.
	// Required with "kubernetes".
	Namespace string `json:"namespace"`
	// Kubeconfig is a kubeconfig file. Empty: the in-cluster service
	// account, else KUBECONFIG or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig"`
	// SigningKeySecret names the Secret (in Namespace) holding the token
	// signing keys shared by all replicas. Default attestd-signing-key.
	SigningKeySecret string `json:"signingKeySecret"`
}

// Cluster reports whether attestd runs on the Kubernetes store (replicas
// share the trust set, the signing keys and the admin credential).
func (c *Config) Cluster() bool { return c.Store.Type == StoreKubernetes }

// TLSConfig is the HTTPS setup.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM server certificate (chain) and key.
	// Both empty: a development certificate is generated.
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
	// ClientCAFile enables mTLS admin authentication: client certificates
	// issued by these CAs authenticate admin calls. Empty: no mTLS.
	ClientCAFile string `json:"clientCAFile"`
}

// CollateralConfig selects the collateral source. Bundles, PCS and PCCS may
// be combined: bundles are consulted first, then the network source. With
// none set, Intel PCS (DefaultPCSURL) is used.
type CollateralConfig struct {
	// Bundles are offline collateral bundles (dcap-qvl QuoteCollateralV3
	// JSON), one per platform FMSPC; for air-gapped sites.
	Bundles []string `json:"bundles"`
	// PCS is the base URL of an Intel PCS v4 compatible service.
	PCS string `json:"pcs"`
	// PCCS is the base URL of an Intel PCCS.
	PCCS string `json:"pccs"`
	// THIM is the base URL of Azure THIM.
	THIM string `json:"thim"`
	// PCCSInsecureSkipVerify accepts the PCCS's self-signed TLS certificate.
	PCCSInsecureSkipVerify bool `json:"pccsInsecureSkipVerify"`
	// APIKeyFile holds an Intel PCS subscription key (optional).
	APIKeyFile string `json:"apiKeyFile"`
	// InsecureSimulationRoot is a PEM root CA of the SIMULATED platform (sgxops
	// sim) that is trusted in addition to Intel's root. Tokens for quotes that
	// chain to it say x-sgxops-simulated: true. Never set it in production.
	InsecureSimulationRoot string `json:"insecureSimulationRoot"`
}

// AuthConfig configures how admin calls authenticate. Attestation, /certs
// and the OpenID metadata are anonymous; everything that changes state needs
// one of these. With none configured, an admin token is generated in
// DataDir/admin-token on first start.
type AuthConfig struct {
	// Tokens are static bearer tokens, stored as SHA-256 hashes.
	Tokens []StaticToken `json:"tokens"`
	// AdminTokenFile holds an admin bearer token (for instance a mounted
	// Secret shared by all replicas); attestd keeps only its hash. Read at
	// start.
	AdminTokenFile string `json:"adminTokenFile"`
	// JWT accepts bearer JWTs from an external issuer (OIDC).
	JWT *JWTAuthConfig `json:"jwt,omitempty"`
	// MTLS maps client certificates (see TLSConfig.ClientCAFile) to roles.
	MTLS MTLSConfig `json:"mtls"`
}

// Roles: a reader may read releases, policies and the audit log; an admin
// may also change them.
const (
	RoleReader = "reader"
	RoleAdmin  = "admin"
)

// StaticToken is one bearer token.
type StaticToken struct {
	// Name identifies the token holder in the audit log.
	Name string `json:"name"`
	// SHA256 is the lowercase hex SHA-256 of the token string.
	SHA256 string `json:"sha256"`
	// Role is "admin" or "reader".
	Role string `json:"role"`
}

// JWTAuthConfig accepts JWT bearer tokens signed by an external issuer.
type JWTAuthConfig struct {
	// Issuer is the required iss.
	Issuer string `json:"issuer"`
	// Audience is the required aud.
	Audience string `json:"audience"`
	// JWKSFile or JWKSURL give the issuer's public keys (one is required).
	JWKSFile string `json:"jwksFile"`
	JWKSURL  string `json:"jwksURL"`
	// RoleClaim names the claim holding roles (a string, space-separated
	// string or array). Default "roles".
	RoleClaim string `json:"roleClaim"`
	// AdminRole and ReaderRole are the role values. Defaults "sgxops.admin"
	// and "sgxops.reader".
	AdminRole  string `json:"adminRole"`
	ReaderRole string `json:"readerRole"`
}

// MTLSConfig maps verified client certificates to roles by subject common
// name.
type MTLSConfig struct {
	// Admins and Readers list common names. Both empty: every certificate
	// from the client CA is an admin.
	Admins  []string `json:"admins"`
	Readers []string `json:"readers"`
}

// PolicyConfig configures policy management.
type PolicyConfig struct {
	// SigningCerts are PEM files of policy-signing certificates (MAA's
	// isolated mode): a policy JWS must be signed by one of them, the JWS x5c
	// certificate matching byte for byte.
	SigningCerts []string `json:"signingCerts"`
	// AllowUnsigned accepts unsigned ({"alg":"none"}) policy JWS from
	// authenticated admins, as MAA's AAD mode does. Default false: unsigned
	// policies are refused, so alg none appears only in draft attestation.
	AllowUnsigned bool `json:"allowUnsigned"`
}

// AppraisalConfig holds the platform rules applied with the reference values.
type AppraisalConfig struct {
	// Defaults apply to apps not listed in Apps.
	Defaults AppRules `json:"defaults"`
	// Apps holds per-app rules, by app name.
	Apps map[string]AppRules `json:"apps"`
	// DrainGrace is the grace period when an activate/drain call names none.
	// Default 1h.
	DrainGrace Duration `json:"drainGrace"`
}

// AppRules are one app's platform rules (policy.App without releases).
type AppRules struct {
	// AcceptedTCBStatuses: default ["UpToDate"]. "Revoked" is never accepted.
	AcceptedTCBStatuses []string `json:"acceptedTCBStatuses"`
	// AcceptedAdvisoryIDs: Intel advisories evidence may carry; "*" for all.
	// Default: none.
	AcceptedAdvisoryIDs []string `json:"acceptedAdvisoryIDs"`
	// AllowDebug accepts debug enclaves. Default false.
	AllowDebug bool `json:"allowDebug"`
	// AllowSimulated accepts evidence from the simulated platform. Default:
	// true exactly when a simulation root is configured (naming it is the
	// explicit opt-in); set false to refuse simulation for an app anyway.
	AllowSimulated *bool `json:"allowSimulated,omitempty"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `json:"level"`
}

// Duration is a time.Duration that reads and writes JSON as "1h30m".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "90s"-style strings (or integer nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"1h\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Default returns the configuration attestd runs with when given no file
// and no flags.
func Default() Config {
	return Config{
		Listen:          DefaultListen,
		DataDir:         DefaultDataDir,
		ShutdownTimeout: Duration(DefaultShutdownTimeout),
		ShutdownDelay:   -1,
		Store:           StoreConfig{Type: StoreBolt},
		Appraisal:       AppraisalConfig{DrainGrace: Duration(DefaultDrainGrace)},
		Log:             LogConfig{Level: "info"},
	}
}

// Error reports an invalid configuration value, naming the setting (its
// JSON path, or the flag).
type Error struct {
	// Field is the setting's JSON path ("collateral.pcs"), or the file.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *Error) Error() string { return "attestd: config " + e.Field + ": " + e.Reason }

func cfgErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// LoadFile overlays the JSON file at path onto c: settings present in the
// file replace c's; unknown keys are an error (a typo must not silently
// weaken security settings).
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("attestd: config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return &Error{Field: path, Reason: err.Error()}
	}
	return nil
}

// Validate checks c and fills in derived defaults (the issuer). It does not
// touch the file system.
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return cfgErr("listen", "%q is not host:port: %v", c.Listen, err)
	}
	if port == "" {
		return cfgErr("listen", "%q has no port", c.Listen)
	}
	if c.DataDir == "" {
		return cfgErr("dataDir", "required")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return cfgErr("tls", "certFile and keyFile must be given together")
	}
	if c.InsecureHTTP {
		if c.TLS.CertFile != "" || c.TLS.ClientCAFile != "" {
			return cfgErr("insecureHTTP", "cannot be combined with TLS certificates or mTLS")
		}
		if !isLoopbackHost(host) && !c.InsecureHTTPForce {
			return cfgErr("insecureHTTP", "plain HTTP on non-loopback address %q refused; use TLS, or add --insecure-http-force", c.Listen)
		}
	}
	if c.Issuer == "" {
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			return cfgErr("issuer", "required when listening on all interfaces (%q): the public URL clients use", c.Listen)
		}
		scheme := "https"
		if c.InsecureHTTP {
			scheme = "http"
		}
		c.Issuer = scheme + "://" + c.Listen
	}
	if err := validateIssuer(c.Issuer); err != nil {
		return err
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.Collateral.Network("-").Validate(); err != nil {
		field := "collateral"
		var se *collateral.ServiceError
		if errors.As(err, &se) {
			field = map[string]string{"pcs": "collateral.pcs", "pccs": "collateral.pccs", "thim": "collateral.thim",
				"api key": "collateral.apiKeyFile", "insecure PCCS TLS": "collateral.pccsInsecureSkipVerify"}[se.Field]
			if field == "" {
				field = "collateral"
			}
			err = errors.New(se.Reason)
		}
		return cfgErr(field, "%v (bundles can be combined with one service)", err)
	}
	if c.Appraisal.DrainGrace < 0 {
		return cfgErr("appraisal.drainGrace", "negative")
	}
	if err := validateRules("appraisal.defaults", c.Appraisal.Defaults); err != nil {
		return err
	}
	for name, r := range c.Appraisal.Apps {
		if err := release.ValidateName("app", name); err != nil {
			return cfgErr("appraisal.apps", "%v", err)
		}
		if err := validateRules("appraisal.apps."+name, r); err != nil {
			return err
		}
	}
	for i, t := range c.Auth.Tokens {
		f := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			return cfgErr(f+".name", "required")
		}
		if len(t.SHA256) != 64 || strings.ToLower(t.SHA256) != t.SHA256 || !isHex(t.SHA256) {
			return cfgErr(f+".sha256", "want 64 lowercase hex characters (SHA-256 of the token)")
		}
		if t.Role != RoleAdmin && t.Role != RoleReader {
			return cfgErr(f+".role", "%q is neither %q nor %q", t.Role, RoleAdmin, RoleReader)
		}
	}
	if j := c.Auth.JWT; j != nil {
		switch {
		case j.Issuer == "":
			return cfgErr("auth.jwt.issuer", "required")
		case j.Audience == "":
			return cfgErr("auth.jwt.audience", "required")
		case (j.JWKSFile == "") == (j.JWKSURL == ""):
			return cfgErr("auth.jwt", "exactly one of jwksFile and jwksURL is required")
		}
	}
	if len(c.Auth.MTLS.Admins)+len(c.Auth.MTLS.Readers) > 0 && c.TLS.ClientCAFile == "" {
		return cfgErr("auth.mtls", "needs tls.clientCAFile")
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return cfgErr("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	return nil
}

// Network is the collateral service of c for collateral.Network, the
// construction path the sgxops CLI uses too: with neither a service nor a
// bundle, Intel PCS (DefaultPCSURL). apiKey is the PCS key (the content of
// APIKeyFile), if any.
func (c CollateralConfig) Network(apiKey string) collateral.Network {
	n := collateral.Network{PCS: c.PCS, PCCS: c.PCCS, THIM: c.THIM, InsecurePCCSTLS: c.PCCSInsecureSkipVerify}
	if n.PCS == "" && n.PCCS == "" && n.THIM == "" && len(c.Bundles) == 0 {
		n.PCS = DefaultPCSURL
	}
	if c.APIKeyFile != "" {
		n.APIKey = apiKey
	}
	return n
}

func validateIssuer(iss string) error {
	u, err := url.Parse(iss)
	switch {
	case err != nil:
		return cfgErr("issuer", "%q: %v", iss, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return cfgErr("issuer", "%q: scheme must be https or http", iss)
	case u.Host == "":
		return cfgErr("issuer", "%q has no host", iss)
	case strings.HasSuffix(iss, "/"):
		return cfgErr("issuer", "%q: no trailing slash (MAA clients compare iss byte for byte)", iss)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return cfgErr("issuer", "%q: must be scheme://host[:port] only (MAA clients append paths to the root)", iss)
	}
	return nil
}

func validateRules(field string, r AppRules) error {
	for _, s := range r.AcceptedTCBStatuses {
		if _, err := dcap.ParseStatus(s); err != nil {
			return cfgErr(field+".acceptedTCBStatuses", "%q is not a TCB status", s)
		}
	}
	if slices.Contains(r.AcceptedAdvisoryIDs, "") {
		return cfgErr(field+".acceptedAdvisoryIDs", "empty advisory ID")
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// validateStore checks the store settings and resolves the defaults that
// depend on the store type.
func (c *Config) validateStore() error {
	st := &c.Store
	switch st.Type {
	case "", StoreBolt:
		st.Type = StoreBolt
		for _, f := range []struct{ name, v string }{{"namespace", st.Namespace}, {"kubeconfig", st.Kubeconfig}, {"signingKeySecret", st.SigningKeySecret}} {
			if f.v != "" {
				return cfgErr("store."+f.name, "only with store type %q (--store %s)", StoreKubernetes, StoreKubernetes)
			}
		}
		if c.ShutdownDelay < 0 {
			c.ShutdownDelay = 0
		}
		return nil
	case StoreKubernetes:
	default:
		return cfgErr("store.type", "%q is neither %q nor %q", st.Type, StoreBolt, StoreKubernetes)
	}
	if st.Namespace == "" {
		return cfgErr("store.namespace", "required with store type %q (--store-namespace)", StoreKubernetes)
	}
	if errs := validation.IsDNS1123Label(st.Namespace); len(errs) > 0 {
		return cfgErr("store.namespace", "%q is not a namespace name: %s", st.Namespace, strings.Join(errs, "; "))
	}
	if st.SigningKeySecret == "" {
		st.SigningKeySecret = DefaultSigningKeySecret
	}
	if errs := validation.IsDNS1123Subdomain(st.SigningKeySecret); len(errs) > 0 {
		return cfgErr("store.signingKeySecret", "%q is not a Secret name: %s", st.SigningKeySecret, strings.Join(errs, "; "))
	}
	if !c.AdminAuthConfigured() {
		return cfgErr("auth", "store type %q needs admin authentication shared by every replica: "+
			"--admin-token-file (a mounted Secret), --admin-token-sha256, auth.jwt or --client-ca; "+
			"a per-replica generated admin token is refused", StoreKubernetes)
	}
	if c.ShutdownDelay < 0 {
		c.ShutdownDelay = Duration(DefaultClusterShutdownDelay)
	}
	return nil
}

// AdminAuthConfigured reports whether any admin authentication is
// configured; without it attestd generates a token in DataDir (bbolt only).
func (c *Config) AdminAuthConfigured() bool {
	return len(c.Auth.Tokens) > 0 || c.Auth.JWT != nil || c.Auth.AdminTokenFile != "" || c.TLS.ClientCAFile != ""
}
