package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sgxops/sgxops/registry"
)

// adminClient calls attestd's release admin API with a bearer token, as an
// operator's tooling would.
type adminClient struct {
	base, token string
	hc          *http.Client
}

func (a *adminClient) do(ctx context.Context, method, path string, body any) (*registry.View, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("attestd %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var v registry.View
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("attestd %s %s: %w", method, path, err)
	}
	return &v, nil
}

func (a *adminClient) register(ctx context.Context, app, name, mrenclave string) (*registry.View, error) {
	return a.do(ctx, http.MethodPost, "/admin/v1/releases",
		map[string]any{"app": app, "name": name, "mrenclave": mrenclave})
}

func (a *adminClient) transition(ctx context.Context, app, name, op string, grace time.Duration) (*registry.View, error) {
	var body any
	if grace > 0 {
		body = map[string]string{"grace": grace.String()}
	}
	return a.do(ctx, http.MethodPost, "/admin/v1/releases/"+app+"/"+name+"/"+op, body)
}

func (a *adminClient) get(ctx context.Context, app, name string) (*registry.View, error) {
	return a.do(ctx, http.MethodGet, "/admin/v1/releases/"+app+"/"+name, nil)
}
