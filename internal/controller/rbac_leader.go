package controller

// Leader election records an event on its Lease with the core events API
// (the E2E saw "events is forbidden" for the operator's service account).
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
