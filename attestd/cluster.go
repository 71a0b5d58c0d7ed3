package attestd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
)

// Cluster mode (--store kubernetes): replicas share the trust set (the
// Kubernetes store's custom resources), the signing keys (one Secret,
// followed by a watch) and the admin credential (a mounted file).

// kubeRESTConfig returns the API server configuration: the kubeconfig file
// at path; with none, the in-cluster service account, else client-go's
// default rules (KUBECONFIG, ~/.kube/config).
func kubeRESTConfig(path string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case path != "":
		rc, err = clientcmd.BuildConfigFromFlags("", path)
	default:
		rc, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("attestd: Kubernetes API configuration: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "attestd"
	// Admin bursts and the watches of several replicas: above client-go's
	// default of 5 requests per second.
	rc.QPS, rc.Burst = 50, 100
	return rc, nil
}

// storeReadiness returns the /readyz check of st: its own Ping when it has
// one (reachable and in sync), else a read of the audit head.
func storeReadiness(st store.Store) func(context.Context) error {
	type pinger interface{ Ping(context.Context) error }
	if p, ok := st.(pinger); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := st.AuditHead(ctx)
		return err
	}
}

// clusterParts are what cluster mode adds to Start.
type clusterParts struct {
	store    store.Store
	keys     *secretKeyStore
	follower *keyFollower
}

// openCluster connects to the API server and opens the store and the
// signing-key Secret.
func openCluster(ctx context.Context, cfg config.Config, m *metrics, log *slog.Logger) (*clusterParts, error) {
	rc, err := kubeRESTConfig(cfg.Store.Kubeconfig)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("attestd: Kubernetes client: %w", err)
	}
	st, err := kube.Open(ctx, kube.Options{Config: rc, Namespace: cfg.Store.Namespace, Observe: m.observeStore})
	if err != nil {
		return nil, err
	}
	ks := &secretKeyStore{secrets: core.Secrets(cfg.Store.Namespace), ns: cfg.Store.Namespace, name: cfg.Store.SigningKeySecret, observe: m.observeStore}
	log.Info("cluster mode: Kubernetes store and shared signing keys", "namespace", cfg.Store.Namespace,
		"signing_key_secret", cfg.Store.SigningKeySecret, "api_server", rc.Host)
	return &clusterParts{store: st, keys: ks}, nil
}
