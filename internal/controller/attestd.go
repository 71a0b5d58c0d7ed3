package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sgxops/sgxops/registry"
)

// AttestdError is a refusal by attestd's admin API.
type AttestdError struct {
	Op      string // e.g. "register v2"
	Status  int    // HTTP status
	Code    string // attestd's error code
	Message string
}

func (e *AttestdError) Error() string {
	return fmt.Sprintf("controller: attestd %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// NotFound reports a 404.
func (e *AttestdError) NotFound() bool { return e.Status == http.StatusNotFound }

// Conflict reports a 409 (exists, duplicate identity, invalid transition).
func (e *AttestdError) Conflict() bool { return e.Status == http.StatusConflict }

// Permanent reports a refusal that retrying cannot change (4xx other than
// 401/403/408/429, which an operator fixes outside the request).
func (e *AttestdError) Permanent() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

func isAttestdNotFound(err error) bool {
	var ae *AttestdError
	return errors.As(err, &ae) && ae.NotFound()
}

// attestdClient calls attestd's release admin API (/admin/v1).
type attestdClient struct {
	base, token string
	hc          *http.Client
}

// newHTTPClient returns a client trusting caPEM (system roots when empty).
func newHTTPClient(caPEM []byte, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("controller: attestd CA bundle holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

func (c *attestdClient) do(ctx context.Context, op, method, path string, body any) (*registry.View, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("controller: attestd %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("controller: attestd %s: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &eb)
		if eb.Error.Message == "" {
			eb.Error.Message = strings.TrimSpace(string(b))
		}
		return nil, &AttestdError{Op: op, Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	var v registry.View
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("controller: attestd %s: %w", op, err)
	}
	return &v, nil
}

func relPath(app, name string) string {
	return "/admin/v1/releases/" + url.PathEscape(app) + "/" + url.PathEscape(name)
}

// get returns the release, or an *AttestdError with NotFound.
func (c *attestdClient) get(ctx context.Context, app, name string) (*registry.View, error) {
	return c.do(ctx, "get "+name, http.MethodGet, relPath(app, name), nil)
}

func (c *attestdClient) register(ctx context.Context, app, name, mrenclave string) (*registry.View, error) {
	return c.do(ctx, "register "+name, http.MethodPost, "/admin/v1/releases",
		map[string]any{"app": app, "name": name, "mrenclave": mrenclave})
}

func (c *attestdClient) activate(ctx context.Context, app, name string, grace time.Duration) (*registry.View, error) {
	return c.do(ctx, "activate "+name, http.MethodPost, relPath(app, name)+"/activate", map[string]string{"grace": grace.String()})
}

func (c *attestdClient) retire(ctx context.Context, app, name string) (*registry.View, error) {
	return c.do(ctx, "retire "+name, http.MethodPost, relPath(app, name)+"/retire", nil)
}

func (c *attestdClient) revoke(ctx context.Context, app, name, reason string) (*registry.View, error) {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	return c.do(ctx, "revoke "+name, http.MethodPost, relPath(app, name)+"/revoke", map[string]string{"reason": reason})
}

// list returns every release of app.
func (c *attestdClient) list(ctx context.Context, app string) ([]registry.View, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.base, "/")+"/admin/v1/releases/"+url.PathEscape(app), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("controller: attestd list: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("controller: attestd list: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &AttestdError{Op: "list", Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	var l struct {
		Releases []registry.View `json:"releases"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("controller: attestd list: %w", err)
	}
	return l.Releases, nil
}
