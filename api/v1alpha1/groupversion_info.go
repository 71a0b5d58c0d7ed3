// Package v1alpha1 holds the sgxops Kubernetes API, group sgxops.io, version
// v1alpha1: EnclaveApp (reconciled by the operator) and the attestd trust-store
// kinds (written by attestd's Kubernetes store).
//
// +kubebuilder:object:generate=true
// +groupName=sgxops.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "sgxops.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
