package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// ErrHelp is returned by ParseFlags for -h/--help (usage was printed).
var ErrHelp = pflag.ErrHelp

// ParseFlags builds the configuration from command-line args: defaults, then
// the --config file (JSON), then the flags that were given, then Validate.
// The collateral flags have the names of "sgxops quote verify".
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := Default()
	var f Config // flag values; only those given are applied
	var configFile string
	var bundles, signers []string
	var adminTokenSHA string
	fs := pflag.NewFlagSet("attestd", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&configFile, "config", "", "JSON configuration file (flags override it)")
	fs.StringVar(&f.Listen, "listen", DefaultListen, "address to listen on")
	fs.StringVar(&f.DataDir, "data-dir", DefaultDataDir, "directory for the signing key, the store and generated credentials")
	fs.StringVar(&f.Issuer, "issuer", "", "public base URL of this service = the token iss (default https://LISTEN, or http:// with --insecure-http)")
	fs.StringVar(&f.TLS.CertFile, "tls-cert", "", "TLS server certificate (PEM); without it a development certificate is generated")
	fs.StringVar(&f.TLS.KeyFile, "tls-key", "", "TLS server key (PEM)")
	fs.StringVar(&f.TLS.ClientCAFile, "client-ca", "", "CA certificates (PEM) whose client certificates authenticate admin calls (mTLS)")
	fs.BoolVar(&f.InsecureHTTP, "insecure-http", false, "serve plain HTTP (refused on non-loopback addresses without --insecure-http-force)")
	fs.BoolVar(&f.InsecureHTTPForce, "insecure-http-force", false, "allow --insecure-http on a non-loopback address")
	fs.StringArrayVar(&bundles, "collateral", nil, "offline collateral bundle (dcap-qvl JSON); repeatable, one per platform FMSPC")
	fs.StringVar(&f.Collateral.PCS, "pcs", "", "base URL of Intel PCS (API v4) or a service with the same paths (default "+DefaultPCSURL+" when no source is given)")
	fs.StringVar(&f.Collateral.PCCS, "pccs", "", "base URL of a PCCS")
	fs.StringVar(&f.Collateral.THIM, "thim", "", "base URL of Azure THIM")
	fs.StringVar(&f.Collateral.APIKeyFile, "pcs-api-key-file", "", "file holding an Intel PCS subscription key for --pcs")
	fs.BoolVar(&f.Collateral.PCCSInsecureSkipVerify, "insecure-pccs-tls", false, "accept any TLS certificate from --pccs")
	fs.StringVar(&f.Collateral.InsecureSimulationRoot, "insecure-simulation-root", "", "INSECURE: also trust this SIMULATION root CA (PEM) from \"sgxops sim\"; tokens say simulated")
	fs.StringArrayVar(&signers, "policy-signing-cert", nil, "policy-signing certificate (PEM); repeatable (MAA isolated mode)")
	fs.BoolVar(&f.Policy.AllowUnsigned, "allow-unsigned-policies", false, "accept unsigned (alg none) policy uploads from admins (MAA AAD mode)")
	fs.StringVar(&adminTokenSHA, "admin-token-sha256", "", "SHA-256 (hex) of a static admin bearer token")
	fs.StringVar(&f.Auth.AdminTokenFile, "admin-token-file", "", "file holding the admin bearer token (e.g. a mounted Secret); only its hash is kept")
	fs.StringVar(&f.Store.Type, "store", StoreBolt, "trust-set store: bbolt (DATA-DIR/sgxops.db, one process) or kubernetes (custom resources, shared by replicas)")
	fs.StringVar(&f.Store.Namespace, "store-namespace", "", "namespace of the Kubernetes store and the signing-key Secret (required with --store kubernetes)")
	fs.StringVar(&f.Store.Kubeconfig, "kubeconfig", "", "kubeconfig file for --store kubernetes (default: in-cluster service account, else KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.Store.SigningKeySecret, "signing-key-secret", "", "Secret (in --store-namespace) holding the token-signing keys shared by replicas (default "+DefaultSigningKeySecret+"; --store kubernetes only)")
	var delay, timeout time.Duration
	fs.DurationVar(&delay, "shutdown-delay", 0, "after SIGTERM, serve this long with /readyz failing before draining (default 5s with --store kubernetes, 0 otherwise)")
	fs.DurationVar(&timeout, "shutdown-timeout", DefaultShutdownTimeout, "bound on draining in-flight requests at shutdown")
	fs.StringVar(&f.Log.Level, "log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: attestd [flags]\n\nattestd is the sgxops attestation service (MAA-compatible). With no flags it listens on\n"+
			DefaultListen+" with a development TLS certificate and keeps its state in ./"+DefaultDataDir+".\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("attestd: unexpected arguments %q", fs.Args())
	}
	if configFile != "" {
		if err := cfg.LoadFile(configFile); err != nil {
			return Config{}, err
		}
	}
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("listen", func() { cfg.Listen = f.Listen })
	set("data-dir", func() { cfg.DataDir = f.DataDir })
	set("issuer", func() { cfg.Issuer = strings.TrimSpace(f.Issuer) })
	set("tls-cert", func() { cfg.TLS.CertFile = f.TLS.CertFile })
	set("tls-key", func() { cfg.TLS.KeyFile = f.TLS.KeyFile })
	set("client-ca", func() { cfg.TLS.ClientCAFile = f.TLS.ClientCAFile })
	set("insecure-http", func() { cfg.InsecureHTTP = f.InsecureHTTP })
	set("insecure-http-force", func() { cfg.InsecureHTTPForce = f.InsecureHTTPForce })
	set("collateral", func() { cfg.Collateral.Bundles = bundles })
	set("pcs", func() { cfg.Collateral.PCS = f.Collateral.PCS })
	set("pccs", func() { cfg.Collateral.PCCS = f.Collateral.PCCS })
	set("thim", func() { cfg.Collateral.THIM = f.Collateral.THIM })
	set("pcs-api-key-file", func() { cfg.Collateral.APIKeyFile = f.Collateral.APIKeyFile })
	set("insecure-pccs-tls", func() { cfg.Collateral.PCCSInsecureSkipVerify = f.Collateral.PCCSInsecureSkipVerify })
	set("insecure-simulation-root", func() { cfg.Collateral.InsecureSimulationRoot = f.Collateral.InsecureSimulationRoot })
	set("policy-signing-cert", func() { cfg.Policy.SigningCerts = signers })
	set("allow-unsigned-policies", func() { cfg.Policy.AllowUnsigned = f.Policy.AllowUnsigned })
	set("admin-token-sha256", func() {
		cfg.Auth.Tokens = append(cfg.Auth.Tokens, StaticToken{Name: "flag", SHA256: strings.ToLower(adminTokenSHA), Role: RoleAdmin})
	})
	set("admin-token-file", func() { cfg.Auth.AdminTokenFile = f.Auth.AdminTokenFile })
	set("store", func() { cfg.Store.Type = f.Store.Type })
	set("store-namespace", func() { cfg.Store.Namespace = f.Store.Namespace })
	set("kubeconfig", func() { cfg.Store.Kubeconfig = f.Store.Kubeconfig })
	set("signing-key-secret", func() { cfg.Store.SigningKeySecret = f.Store.SigningKeySecret })
	set("shutdown-delay", func() { cfg.ShutdownDelay = Duration(delay) })
	set("shutdown-timeout", func() { cfg.ShutdownTimeout = Duration(timeout) })
	set("log-level", func() { cfg.Log.Level = f.Log.Level })
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// IsHelp reports whether err is the -h/--help result of ParseFlags.
func IsHelp(err error) bool { return errors.Is(err, pflag.ErrHelp) }
