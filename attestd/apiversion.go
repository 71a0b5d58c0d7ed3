package attestd

import (
	"net/http"
	"strings"
)

// defaultAPIVersion is assumed when a request carries no api-version.
const defaultAPIVersion = "2020-10-01"

// supportedAPIVersions are the MAA data-plane versions attestd accepts on
// /attest/*, /policies/* and /certificates*: the GA versions from 2020-10-01
// to 2025-06-01 and the preview published between them. Their wire formats
// are the same for the operations attestd implements.
var supportedAPIVersions = []string{"2020-10-01", "2022-08-01", "2022-09-01-preview", "2022-09-01", "2025-06-01"}

// checkAPIVersion accepts a missing api-version (the default) and the
// supported versions; anything else is 400 InvalidParameter, because a
// client asking for an unknown version expects a wire format attestd may
// not speak.
func checkAPIVersion(r *http.Request) (string, error) {
	vals, ok := r.URL.Query()["api-version"]
	if !ok || len(vals) == 0 {
		return defaultAPIVersion, nil
	}
	v := strings.TrimSpace(vals[0])
	for _, s := range supportedAPIVersions {
		if strings.EqualFold(v, s) {
			return s, nil
		}
	}
	return "", badRequest("api-version %q is not supported; supported: %s", v, strings.Join(supportedAPIVersions, ", "))
}
