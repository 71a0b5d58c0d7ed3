package pcstest

import (
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sgxops/sgxops/collateral"
)

// Response is one canned answer.
type Response struct {
	// Status is the HTTP status. Zero: 200.
	Status int
	// Header is sent as is.
	Header http.Header
	// Body is sent as is.
	Body []byte
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
}

// Server is an httptest.Server with a table of responses keyed by request
// target (path, and query if any). Query strings are matched case-insensitively,
// as Intel PCS treats FMSPC hex case-insensitively. Unknown targets get 404.
type Server struct {
	*httptest.Server

	mu     sync.Mutex
	routes map[string]Response
	hits   map[string]int
	last   map[string]http.Header
	total  int
}

// NewServer starts an empty server. Close it when done.
func NewServer() *Server {
	s := &Server{routes: map[string]Response{}, hits: map[string]int{}, last: map[string]http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// NewTLSServer starts an empty server on HTTPS with a self-signed certificate.
func NewTLSServer() *Server {
	s := &Server{routes: map[string]Response{}, hits: map[string]int{}, last: map[string]http.Header{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Clients that reject the certificate are expected; do not log them.
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Server.StartTLS()
	return s
}

func key(target string) string {
	path, query, ok := strings.Cut(target, "?")
	if !ok || query == "" {
		return path
	}
	return path + "?" + strings.ToLower(query)
}

// Set installs r as the answer for target, e.g. "/sgx/certification/v4/qe/identity".
func (s *Server) Set(target string, r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[key(target)] = r
}

// Remove deletes the answer for target, so it gets 404.
func (s *Server) Remove(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.routes, key(target))
}

// Route returns the answer installed for target.
func (s *Server) Route(target string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.routes[key(target)]
	return r, ok
}

// Hits is the number of requests received for target.
func (s *Server) Hits(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key(target)]
}

// LastHeader returns the request headers of the latest request for target, or
// nil if there was none.
func (s *Server) LastHeader(target string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[key(target)]
}

// TotalHits is the number of requests received, for any target.
func (s *Server) TotalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	k := key(r.URL.RequestURI())
	s.mu.Lock()
	resp, ok := s.routes[k]
	s.hits[k]++
	s.last[k] = r.Header.Clone()
	s.total++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for name, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(name, v)
		}
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// Paths are the request targets a collateral.PCS asks for one request.
type Paths struct {
	TCBInfo, QEIdentity, PCKCRL, RootCACRL string
}

// PathsFor returns the targets for tee ("sgx"/"tdx"), fmspc and ca
// ("processor"/"platform").
func PathsFor(tee, fmspc, ca string) Paths {
	return Paths{
		TCBInfo:    "/" + tee + "/certification/v4/tcb?fmspc=" + strings.ToLower(fmspc),
		QEIdentity: "/" + tee + "/certification/v4/qe/identity",
		PCKCRL:     "/sgx/certification/v4/pckcrl?ca=" + ca + "&encoding=der",
		RootCACRL:  "/sgx/certification/v4/rootcacrl",
	}
}

// ServeCollateral installs answers for (tee, fmspc, ca) built from c, the way a
// PCCS serves them: TCB Info and QE Identity as {"<field>":<signed body>,
// "signature":"<hex>"}, the PCK CRL as DER, the Root CA CRL as hex text, issuer
// chains URL-encoded in Intel's headers. It returns the targets.
func (s *Server) ServeCollateral(tee, fmspc, ca string, c *collateral.Collateral) Paths {
	p := PathsFor(tee, fmspc, ca)
	s.Set(p.TCBInfo, Response{
		Header: ChainHeader(collateral.HeaderTCBInfoIssuerChain, c.TCBInfoIssuerChain),
		Body:   SignedResponse("tcbInfo", c.TCBInfo, c.TCBInfoSignature),
	})
	s.Set(p.QEIdentity, Response{
		Header: ChainHeader(collateral.HeaderEnclaveIdentityChain, c.QEIdentityIssuerChain),
		Body:   SignedResponse("enclaveIdentity", c.QEIdentity, c.QEIdentitySignature),
	})
	s.Set(p.PCKCRL, Response{
		Header: ChainHeader(collateral.HeaderPCKCRLIssuerChain, c.PCKCRLIssuerChain),
		Body:   c.PCKCRL,
	})
	s.Set(p.RootCACRL, Response{Body: []byte(hex.EncodeToString(c.RootCACRL))})
	return p
}

// SignedResponse builds a PCS body {"<field>":<body>,"signature":"<hex sig>"}
// with body inserted byte for byte.
func SignedResponse(field string, body, sig []byte) []byte {
	out := []byte(`{"` + field + `":`)
	out = append(out, body...)
	out = append(out, `,"signature":"`+hex.EncodeToString(sig)+`"}`...)
	return out
}

// ChainHeader returns a header carrying a PEM chain URL-encoded under name.
func ChainHeader(name string, pemChain []byte) http.Header {
	h := http.Header{}
	h.Set(name, EncodeChain(pemChain))
	return h
}

// EncodeChain percent-encodes every byte of a PEM chain except the RFC 3986
// unreserved characters, as Intel PCS encodes its issuer-chain headers.
func EncodeChain(pemChain []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range pemChain {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
