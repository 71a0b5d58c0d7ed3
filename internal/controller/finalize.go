package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/release"
)

// finalize retires the app's releases in attestd (unless deletionPolicy is
// Keep) and then lets the EnclaveApp go; its children go with it through
// their owner references.
func (x *run) finalize(ctx context.Context) error {
	a := x.app
	if !controllerutil.ContainsFinalizer(a, v1.Finalizer) {
		return nil
	}
	if a.Spec.DeletionPolicy != v1.DeletionKeep {
		att, err := x.attestd(ctx)
		if apierrors.IsNotFound(err) {
			// The admin token went first (namespace deletion): do not block
			// the deletion forever, but say what was left behind.
			x.event(corev1.EventTypeWarning, "ReleasesKept", "attestd admin token gone; releases of %s left in attestd: %v", x.appName, err)
		} else if err != nil {
			return err
		} else {
			views, err := att.list(ctx, x.appName)
			if err != nil {
				return err
			}
			for _, v := range views {
				if v.State == release.Retired || v.State == release.Revoked {
					continue
				}
				if _, err := att.retire(ctx, x.appName, v.Name); err != nil {
					return err
				}
				if err := x.did("retire"); err != nil {
					return err
				}
			}
			x.event(corev1.EventTypeNormal, "ReleasesRetired", "releases of %s retired in attestd", x.appName)
		}
	}
	patch := client.MergeFrom(a.DeepCopy())
	controllerutil.RemoveFinalizer(a, v1.Finalizer)
	return client.IgnoreNotFound(x.r.client.Patch(ctx, a, patch))
}
