// Command sgxops-operator runs the EnclaveApp controller (package
// internal/controller): wiring only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/internal/buildinfo"
	"github.com/sgxops/sgxops/internal/controller"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sgxops-operator:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("sgxops-operator", flag.ContinueOnError)
	leaderElect := fl.Bool("leader-elect", true, "elect a leader so that two managers never act at once")
	metricsAddr := fl.String("metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 disables it)")
	probeAddr := fl.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	namespace := fl.String("namespace", "", "watch only this namespace (default: all)")
	leNamespace := fl.String("leader-election-namespace", "", "namespace of the leader-election Lease (default: the operator's own, in a cluster)")
	image := fl.String("sgxops-image", controller.DefaultSgxopsImage, "image with /sgxops, run in build, probe and test containers")
	workers := fl.Int("max-concurrent-reconciles", 4, "EnclaveApps reconciled at once")
	logLevel := fl.String("log-level", "info", "log level: debug, info, warn, error")
	showVersion := fl.Bool("version", false, "print the build (module version, VCS revision, Go version) and exit")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(buildinfo.Read().String("sgxops-operator"))
		return nil
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controller.CacheOptions(*namespace),
		Metrics:                       metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:        *probeAddr,
		LeaderElection:                *leaderElect,
		LeaderElectionID:              "sgxops-operator.sgxops.io",
		LeaderElectionNamespace:       *leNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	r := controller.New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("sgxops-operator"), controller.Options{
		SgxopsImage:             *image,
		MaxConcurrentReconciles: *workers,
		Logs: func(ctx context.Context, ns, pod, container string) (string, error) {
			tailLines, limit := int64(20), int64(4096)
			rc, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &tailLines, LimitBytes: &limit}).Stream(ctx)
			if err != nil {
				return "", err
			}
			defer rc.Close()
			b, err := io.ReadAll(io.LimitReader(rc, limit))
			return string(b), err
		},
	})
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting", "namespace", *namespace, "leader_elect", *leaderElect, "sgxops_image", *image)
	return mgr.Start(ctrl.SetupSignalHandler())
}
