package controller

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/release"
)

func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8stest.RepoRoot(), "deploy", "examples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	return files
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, &u)
		}
	}
}

// TestExamplesServerSideDryRun applies every example under deploy/examples
// with a server-side dry run: the CRD schema and CEL rules accept them.
func TestExamplesServerSideDryRun(t *testing.T) {
	k8stestSkip(t)
	ns := namespace(t, nil)
	for _, f := range exampleFiles(t) {
		for _, u := range readObjects(t, f) {
			u.SetNamespace(ns)
			if err := env.Client.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Errorf("%s: %s %s: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// exampleApp loads the EnclaveApp of an example, pointed at the test's attestd.
func exampleApp(t *testing.T, file, ns, attestdURL string) *v1.EnclaveApp {
	t.Helper()
	for _, u := range readObjects(t, filepath.Join(k8stest.RepoRoot(), "deploy", "examples", file)) {
		if u.GetKind() != "EnclaveApp" {
			continue
		}
		var a v1.EnclaveApp
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
			t.Fatal(err)
		}
		a.Namespace = ns
		a.Spec.Attestd.URL = attestdURL
		return &a
	}
	t.Fatalf("%s: no EnclaveApp", file)
	return nil
}

// TestExampleAggregateBlueGreen applies deploy/examples/aggregate-bluegreen.yaml
// for real and rolls it out to v1 (TestRolloutBlueGreen covers v2).
func TestExampleAggregateBlueGreen(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	a := exampleApp(t, "aggregate-bluegreen.yaml", ns, att.URL)
	if err := env.Client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a = waitPhase(t, ns, "aggregate", "v1", v1.PhaseActive, waitLong)
	_, mr := sampleMeasurement(t, "v1", false)
	if revStatus(a, "v1").MREnclave != mr {
		t.Errorf("MRENCLAVE %s, want %s", revStatus(a, "v1").MREnclave, mr)
	}
	if v := att.release(t, "aggregate", "v1"); v == nil || v.State != release.Active {
		t.Errorf("attestd: %+v", v)
	}
}

// TestExampleOEHelloWorldJob applies deploy/examples/oe-helloworld-job.yaml:
// measured from the runtime image, registered, run once as a Job, its log
// tail in status, activated; v2 then retires v1.
func TestExampleOEHelloWorldJob(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	for _, rev := range []string{"v1", "v2"} {
		msg, _ := sampleMeasurement(t, "oe-"+rev, false) // any real measurement stands in for the OE image's
		k.set(func(k *fakeKubelet) { k.measure[rev] = msg })
	}
	startManager(t, ns, nil, Options{})
	a := exampleApp(t, "oe-helloworld-job.yaml", ns, att.URL)
	if err := env.Client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a = waitPhase(t, ns, "oe-helloworld", "v1", v1.PhaseActive, waitLong)
	r := revStatus(a, "v1")
	if r.RunJob != "oe-helloworld-v1-run" || !strings.Contains(r.Logs, "hello from the enclave") || r.Deployment != "" {
		t.Errorf("v1: %+v", r)
	}
	if c := condition(a, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != "JobCompleted" {
		t.Errorf("Ready: %+v", c)
	}
	if v := att.release(t, "oe-helloworld", "v1"); v.State != release.Active {
		t.Errorf("attestd v1: %s", v.State)
	}
	// The measuring Job runs the runtime image with the injected CLI.
	if got := a.Status.Revisions[0].BuilderImageDigest; !strings.HasPrefix(got, "sgxops.local/oe-helloworld:0.19@sha256:") {
		t.Errorf("measured image %q", got)
	}
	setRevision(t, ns, "oe-helloworld", "v2")
	a = waitPhase(t, ns, "oe-helloworld", "v2", v1.PhaseActive, waitLong)
	if revStatus(a, "v1").Phase != v1.PhaseRetired || a.Status.ActiveRevision != "v2" {
		t.Errorf("after v2: %s", summary(a))
	}
	if v := att.release(t, "oe-helloworld", "v1"); v.State != release.Retired {
		t.Errorf("attestd v1: %s", v.State)
	}
}
