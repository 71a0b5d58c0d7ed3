package cluster_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/attestd"
)

// trustSetKinds are the custom resources of the Kubernetes store: what
// docs/operations.md says to back up together.
var trustSetKinds = []string{"AttestdLedger", "AttestdRelease", "AttestdPolicy", "AttestdPolicyCertificates", "AttestdAuditSegment"}

// TestClusterBackupRestore follows docs/operations.md ("Back up and
// restore"): every object of the five kinds is copied, without
// resourceVersion and uid, into an empty namespace; a replica on it serves
// the same releases and a valid audit chain with the same head.
func TestClusterBackupRestore(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	for _, n := range []string{"v1", "v2"} {
		a.release(t, "backup", n, identity("backup "+n))
	}
	a.admin(t, "POST", "/admin/v1/releases/backup/v1/retire", nil, 200)
	wantList := a.admin(t, "GET", "/admin/v1/releases", nil, 200)
	var wantAudit attestd.AuditVerification
	_ = json.Unmarshal(a.admin(t, "GET", "/admin/v1/audit/verify", nil, 200), &wantAudit)

	ctx := context.Background()
	restored := c.ns + "-restored"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: restored}}); err != nil {
		t.Fatal(err)
	}
	copied := 0
	for _, kind := range trustSetKinds {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: "sgxops.io", Version: "v1alpha1", Kind: kind + "List"})
		if err := env.Client.List(ctx, &list, client.InNamespace(c.ns)); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			o := o.DeepCopy()
			o.SetNamespace(restored)
			o.SetResourceVersion("")
			o.SetUID("")
			o.SetCreationTimestamp(metav1.Time{})
			o.SetManagedFields(nil)
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("restoring %s %s: %v", kind, o.GetName(), err)
			}
			copied++
		}
	}
	t.Logf("restored %d objects", copied)

	r, err := c.tryStartNS("restored", restored)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.admin(t, "GET", "/admin/v1/releases", nil, 200); string(got) != string(wantList) {
		t.Fatalf("releases after restore:\n%s\nwant\n%s", got, wantList)
	}
	var v attestd.AuditVerification
	_ = json.Unmarshal(r.admin(t, "GET", "/admin/v1/audit/verify", nil, 200), &v)
	if !v.Valid || v.Head != wantAudit.Head || v.Entries != wantAudit.Entries {
		t.Fatalf("audit after restore %+v, want %+v", v, wantAudit)
	}
}
