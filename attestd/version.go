package attestd

import (
	"net/http"

	"github.com/sgxops/sgxops/internal/buildinfo"
)

// handleVersion reports the build of the running binary (module version, VCS
// revision and time, Go version), as `attestd --version` prints it. Anonymous:
// it says nothing a released image's labels do not.
func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, buildinfo.Read())
	return nil
}
