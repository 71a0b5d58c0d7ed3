package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://127.0.0.1:8443" || c.DataDir != "attestd-data" || time.Duration(c.Appraisal.DrainGrace) != time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"insecure http on all interfaces", func(c *Config) { c.Listen, c.InsecureHTTP, c.Issuer = "0.0.0.0:80", true, "http://a.example" }, "insecureHTTP"},
		{"insecure http on public ip", func(c *Config) { c.Listen, c.InsecureHTTP = "192.0.2.1:80", true }, "insecureHTTP"},
		{"issuer needed on all interfaces", func(c *Config) { c.Listen = ":8443" }, "issuer"},
		{"issuer trailing slash", func(c *Config) { c.Issuer = "https://a.example/" }, "issuer"},
		{"issuer with path", func(c *Config) { c.Issuer = "https://a.example/maa" }, "issuer"},
		{"issuer scheme", func(c *Config) { c.Issuer = "ftp://a.example" }, "issuer"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "x.pem" }, "tls"},
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, "listen"},
		{"bad token hash", func(c *Config) { c.Auth.Tokens = []StaticToken{{Name: "a", SHA256: "zz", Role: RoleAdmin}} }, "auth.tokens[0].sha256"},
		{"bad token role", func(c *Config) {
			c.Auth.Tokens = []StaticToken{{Name: "a", SHA256: strings.Repeat("a", 64), Role: "root"}}
		}, "auth.tokens[0].role"},
		{"jwt without keys", func(c *Config) { c.Auth.JWT = &JWTAuthConfig{Issuer: "i", Audience: "a"} }, "auth.jwt"},
		{"mtls names without CA", func(c *Config) { c.Auth.MTLS.Admins = []string{"ops"} }, "auth.mtls"},
		{"bad tcb status", func(c *Config) { c.Appraisal.Defaults.AcceptedTCBStatuses = []string{"Fine"} }, "appraisal.defaults.acceptedTCBStatuses"},
		{"bad app name", func(c *Config) { c.Appraisal.Apps = map[string]AppRules{"Bad_Name": {}} }, "appraisal.apps"},
		{"two network sources", func(c *Config) { c.Collateral.PCS, c.Collateral.PCCS = "https://a", "https://b" }, "collateral"},
		{"pcs not a url", func(c *Config) { c.Collateral.PCS = "pcs.example" }, "collateral.pcs"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"unknown store", func(c *Config) { c.Store.Type = "etcd" }, "store.type"},
		{"namespace with bbolt", func(c *Config) { c.Store.Namespace = "attestd" }, "store.namespace"},
		{"kubeconfig with bbolt", func(c *Config) { c.Store.Kubeconfig = "kc" }, "store.kubeconfig"},
		{"key secret with bbolt", func(c *Config) { c.Store.SigningKeySecret = "keys" }, "store.signingKeySecret"},
		{"kubernetes without namespace", func(c *Config) { c.Store.Type, c.Auth.AdminTokenFile = StoreKubernetes, "t" }, "store.namespace"},
		{"kubernetes bad namespace", func(c *Config) {
			c.Store, c.Auth.AdminTokenFile = StoreConfig{Type: StoreKubernetes, Namespace: "Not_A_NS"}, "t"
		}, "store.namespace"},
		{"kubernetes bad secret name", func(c *Config) {
			c.Store, c.Auth.AdminTokenFile = StoreConfig{Type: StoreKubernetes, Namespace: "ns", SigningKeySecret: "a/b"}, "t"
		}, "store.signingKeySecret"},
		{"kubernetes without admin auth", func(c *Config) { c.Store = StoreConfig{Type: StoreKubernetes, Namespace: "ns"} }, "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			var ce *Error
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want *Error on %q", err, tt.field)
			}
		})
	}
	ok := Default()
	ok.Listen, ok.InsecureHTTP, ok.InsecureHTTPForce, ok.Issuer = "0.0.0.0:80", true, true, "http://a.example"
	if err := ok.Validate(); err != nil {
		t.Fatalf("--insecure-http-force must allow it: %v", err)
	}
}

func TestParseFlagsLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "attestd.json")
	if err := os.WriteFile(file, []byte(`{"listen":"127.0.0.1:9000","dataDir":"/var/lib/attestd","insecureHTTP":true,
		"appraisal":{"drainGrace":"10m","apps":{"web":{"allowDebug":true}}},"collateral":{"pcs":"http://127.0.0.1:1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c, err := ParseFlags([]string{"--config", file, "--listen", "127.0.0.1:9001", "--collateral", "a.json", "--collateral", "b.json"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Listen != "127.0.0.1:9001": // flag beats file
		t.Errorf("listen %q", c.Listen)
	case c.DataDir != "/var/lib/attestd": // file beats default
		t.Errorf("dataDir %q", c.DataDir)
	case c.Issuer != "http://127.0.0.1:9001": // derived after layering
		t.Errorf("issuer %q", c.Issuer)
	case time.Duration(c.Appraisal.DrainGrace) != 10*time.Minute || !c.Appraisal.Apps["web"].AllowDebug:
		t.Errorf("appraisal %+v", c.Appraisal)
	case len(c.Collateral.Bundles) != 2 || c.Collateral.PCS != "http://127.0.0.1:1":
		t.Errorf("collateral %+v", c.Collateral)
	}
	if err := os.WriteFile(file, []byte(`{"listn":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFlags([]string{"--config", file}, &stderr); err == nil || !strings.Contains(err.Error(), "listn") {
		t.Fatalf("unknown key: err = %v", err)
	}
	if _, err := ParseFlags([]string{"--listen", "0.0.0.0:80", "--insecure-http", "--issuer", "http://x.example"}, &stderr); err == nil {
		t.Fatal("plain HTTP on all interfaces accepted without --insecure-http-force")
	}
	if _, err := ParseFlags([]string{"--help"}, &stderr); !IsHelp(err) {
		t.Fatalf("--help: %v", err)
	}
}

// TestParseFlagsCluster: the cluster flags reach the config, defaults that
// depend on the store are filled in, and cluster mode without shared admin
// authentication is refused with a message naming the flags.
func TestParseFlagsCluster(t *testing.T) {
	var stderr bytes.Buffer
	c, err := ParseFlags([]string{"--store", "kubernetes", "--store-namespace", "sgxops", "--kubeconfig", "/k/config",
		"--admin-token-file", "/run/secrets/admin/token", "--shutdown-timeout", "20s"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := StoreConfig{Type: StoreKubernetes, Namespace: "sgxops", Kubeconfig: "/k/config", SigningKeySecret: DefaultSigningKeySecret}
	if c.Store != want || !c.Cluster() || c.Auth.AdminTokenFile != "/run/secrets/admin/token" ||
		time.Duration(c.ShutdownDelay) != DefaultClusterShutdownDelay || time.Duration(c.ShutdownTimeout) != 20*time.Second {
		t.Fatalf("config %+v", c)
	}
	c, err = ParseFlags([]string{"--store", "kubernetes", "--store-namespace", "sgxops", "--signing-key-secret", "keys",
		"--admin-token-sha256", strings.Repeat("a", 64), "--shutdown-delay", "0s"}, &stderr)
	if err != nil || c.Store.SigningKeySecret != "keys" || c.ShutdownDelay != 0 {
		t.Fatalf("config %+v, %v", c, err)
	}
	if c, err := ParseFlags(nil, &stderr); err != nil || c.Store.Type != StoreBolt || c.Cluster() || c.ShutdownDelay != 0 {
		t.Fatalf("default store: %+v, %v", c.Store, err)
	}
	_, err = ParseFlags([]string{"--store", "kubernetes", "--store-namespace", "sgxops"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--admin-token-file") || !strings.Contains(err.Error(), "per-replica") {
		t.Fatalf("cluster without admin auth: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "attestd.json")
	if err := os.WriteFile(file, []byte(`{"store":{"type":"kubernetes","namespace":"ns"},"auth":{"adminTokenFile":"/t"},"shutdownDelay":"2s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := ParseFlags([]string{"--config", file}, &stderr); err != nil || c.Store.Namespace != "ns" || time.Duration(c.ShutdownDelay) != 2*time.Second {
		t.Fatalf("config file: %+v, %v", c, err)
	}
}
