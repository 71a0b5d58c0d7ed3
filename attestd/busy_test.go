package attestd

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/sgxops/sgxops/registry"
)

// TestBusyIsRetryAfter: a write that waited its turn too long is 503 with
// Retry-After, so clients back off instead of failing.
func TestBusyIsRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, registryError(fmt.Errorf("%w: waited 10s for other updates of app shop", registry.ErrBusy)))
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q; want 503, 1", w.Code, w.Header().Get("Retry-After"))
	}
}
