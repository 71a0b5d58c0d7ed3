package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sgxops/sgxops/ra"
)

// Service is the sample confidential service. The zero value is unusable:
// Version and Provider are required.
type Service struct {
	// Version is the build's version, reported in results and /healthz.
	Version string
	// Provider makes the quotes (simulation, Gramine, configfs-tsm).
	Provider ra.QuoteProvider
	// ProviderName describes the provider in /healthz, e.g. "SIMULATED sgx".
	ProviderName string
	// Sessions configures the attested channel; nil means its defaults.
	Sessions *ra.HTTPServerOptions
}

// Health is the /healthz answer.
type Health struct {
	Status   string `json:"status"`
	App      string `json:"app"`
	Version  string `json:"version"`
	Provider string `json:"provider"`
	Sessions int    `json:"sessions"`
}

// Handler returns the service's HTTP handler: GET /healthz and the ra HTTP
// routes (POST /session, POST /session/{id}/aggregate, DELETE /session/{id}).
func (s *Service) Handler() (http.Handler, error) {
	if s.Version == "" || s.Provider == nil {
		return nil, fmt.Errorf("aggregate: service needs a version and a quote provider")
	}
	version := s.Version
	channel := ra.NewHTTPServer(s.Provider, func(ctx context.Context, op string, req []byte) ([]byte, error) {
		if op != OpAggregate {
			return nil, fmt.Errorf("unknown operation %q", op)
		}
		return handle(version, req)
	}, s.Sessions)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(Health{Status: "ok", App: App, Version: version,
			Provider: s.ProviderName, Sessions: channel.Sessions()})
	})
	mux.Handle(ra.SessionPath, channel)
	mux.Handle(ra.SessionPath+"/", channel)
	return mux, nil
}
