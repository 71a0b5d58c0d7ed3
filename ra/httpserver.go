package ra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// HTTP paths and content type of the HTTP form.
const (
	// SessionPath is where a ClientHello is posted.
	SessionPath = "/session"
	// ContentType is the content type of handshake messages and records.
	ContentType = "application/octet-stream"
	// closeOp is the additional data of the close record sent with DELETE.
	closeOp = "close"
	// maxHelloSize bounds a posted ClientHello.
	maxHelloSize = 1024
)

// HandlerFunc handles one decrypted request of operation op and returns the
// response plaintext. An error is sent to the client, encrypted, as a
// *RemoteError with err.Error() as message.
type HandlerFunc func(ctx context.Context, op string, req []byte) ([]byte, error)

// HTTPServerOptions configures an HTTPServer. The zero value is usable.
type HTTPServerOptions struct {
	// IdleTimeout ends a session that was not used for this long.
	// Zero means 10 minutes.
	IdleTimeout time.Duration
	// MaxSessions bounds the live sessions; a handshake beyond it is refused
	// with 503 after expired sessions were removed. Zero means 1024.
	MaxSessions int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// HTTPServer serves the attested channel over HTTP (see the package
// documentation for the routes) and hands decrypted requests to a handler.
type HTTPServer struct {
	srv         Server
	handler     HandlerFunc
	idle        time.Duration
	maxSessions int
	now         func() time.Time

	mu       sync.Mutex
	sessions map[string]*httpSession
	mux      *http.ServeMux
}

type httpSession struct {
	mu       sync.Mutex // serialises requests: records must arrive in order
	sess     *Session
	lastUsed time.Time
	closed   bool
}

// NewHTTPServer returns an HTTPServer whose quotes come from p.
func NewHTTPServer(p QuoteProvider, h HandlerFunc, opts *HTTPServerOptions) *HTTPServer {
	var o HTTPServerOptions
	if opts != nil {
		o = *opts
	}
	s := &HTTPServer{
		srv:         Server{Provider: p},
		handler:     h,
		idle:        o.IdleTimeout,
		maxSessions: o.MaxSessions,
		now:         o.Now,
		sessions:    map[string]*httpSession{},
		mux:         http.NewServeMux(),
	}
	if s.idle <= 0 {
		s.idle = 10 * time.Minute
	}
	if s.maxSessions <= 0 {
		s.maxSessions = 1024
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.mux.HandleFunc("POST "+SessionPath, s.handshake)
	s.mux.HandleFunc("POST "+SessionPath+"/{id}/{op}", s.call)
	s.mux.HandleFunc("DELETE "+SessionPath+"/{id}", s.closeSession)
	return s
}

// ServeHTTP implements http.Handler.
func (s *HTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Sessions returns the number of live sessions.
func (s *HTTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *HTTPServer) handshake(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHelloSize+1))
	if err != nil {
		writeHTTPError(w, newErr("read client hello", ReasonTransport, "", err))
		return
	}
	if len(body) > maxHelloSize {
		writeHTTPError(w, fieldErr("read client hello", "body", maxHelloSize, "too large"))
		return
	}
	if !s.reserve() {
		writeHTTPError(w, errTooManySessions)
		return
	}
	reply, sess, err := s.srv.Respond(body)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	s.mu.Lock()
	full := len(s.sessions) >= s.maxSessions
	if !full {
		s.sessions[sess.ID()] = &httpSession{sess: sess, lastUsed: s.now()}
	}
	s.mu.Unlock()
	if full {
		writeHTTPError(w, errTooManySessions)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(reply)
}

var errTooManySessions = errors.New("ra: too many sessions")

// reserve drops expired sessions and reports whether there is room for one
// more.
func (s *HTTPServer) reserve() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, e := range s.sessions {
		// A session whose lock is held is in use, hence not idle. TryLock
		// also keeps the lock order (session before server) deadlock-free.
		if !e.mu.TryLock() {
			continue
		}
		if now.Sub(e.lastUsed) > s.idle {
			e.closed = true
			delete(s.sessions, id)
		}
		e.mu.Unlock()
	}
	return len(s.sessions) < s.maxSessions
}

// lookup returns the live session id, locked; the caller unlocks it.
func (s *HTTPServer) lookup(id string) (*httpSession, error) {
	s.mu.Lock()
	e, ok := s.sessions[id]
	s.mu.Unlock()
	if !ok {
		return nil, newErr("lookup session", ReasonUnknownSession, "", nil)
	}
	e.mu.Lock()
	now := s.now()
	if e.closed || now.Sub(e.lastUsed) > s.idle {
		e.closed = true
		e.mu.Unlock()
		s.drop(id)
		return nil, newErr("lookup session", ReasonUnknownSession, "expired or closed", nil)
	}
	// lastUsed is refreshed by the caller once a record authenticated: a
	// forged record must not keep a session alive.
	return e, nil
}

func (s *HTTPServer) drop(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

func readRecord(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRecordSize+1))
	if err != nil {
		return nil, newErr("read record", ReasonTransport, "", err)
	}
	if len(body) > MaxRecordSize {
		return nil, fieldErr("read record", "body", MaxRecordSize, "too large")
	}
	return body, nil
}

// validOp reports whether op is 1..64 bytes of [a-z0-9._-].
func validOp(op string) bool {
	if op == "" || len(op) > 64 {
		return false
	}
	for i := 0; i < len(op); i++ {
		c := op[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *HTTPServer) call(w http.ResponseWriter, r *http.Request) {
	op := r.PathValue("op")
	if !validOp(op) || op == closeOp {
		writeHTTPError(w, fieldErr("call", "op", -1, fmt.Sprintf("invalid operation name %q", op)))
		return
	}
	rec, err := readRecord(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	e, err := s.lookup(r.PathValue("id"))
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	defer e.mu.Unlock()
	typ, req, err := e.sess.Open(rec, []byte(op))
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	e.lastUsed = s.now()
	if typ != RecordData {
		writeHTTPError(w, fieldErr("call", "type", 1, fmt.Sprintf("record type %d, want data", typ)))
		return
	}
	respType, resp := RecordData, []byte(nil)
	if s.handler == nil {
		respType, resp = RecordError, []byte("no handler")
	} else if resp, err = s.handler(r.Context(), op, req); err != nil {
		respType, resp = RecordError, []byte(err.Error())
	}
	out, err := e.sess.Seal(respType, resp, []byte(op))
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(out)
}

func (s *HTTPServer) closeSession(w http.ResponseWriter, r *http.Request) {
	rec, err := readRecord(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	id := r.PathValue("id")
	e, err := s.lookup(id)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	typ, _, err := e.sess.Open(rec, []byte(closeOp))
	if err == nil && typ != RecordClose {
		err = fieldErr("close", "type", 1, fmt.Sprintf("record type %d, want close", typ))
	}
	if err == nil {
		e.closed = true
	}
	e.mu.Unlock()
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	s.drop(id)
	w.WriteHeader(http.StatusNoContent)
}

// httpError is the JSON error body of the HTTP form, in the MAA error shape.
type httpError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeHTTPError(w http.ResponseWriter, err error) {
	status, code := http.StatusBadRequest, ReasonMalformed.String()
	var e *Error
	switch {
	case errors.Is(err, errTooManySessions):
		status, code = http.StatusServiceUnavailable, "too_many_sessions"
	case errors.As(err, &e):
		code = e.Reason.String()
		switch e.Reason {
		case ReasonUnknownSession:
			status = http.StatusNotFound
		case ReasonReplay, ReasonReorder, ReasonExhausted:
			status = http.StatusConflict
		case ReasonClosed:
			status = http.StatusGone
		case ReasonProvider:
			status = http.StatusInternalServerError
		}
	}
	var body httpError
	body.Error.Code = code
	body.Error.Message = err.Error()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
