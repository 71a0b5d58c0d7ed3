package attestd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sgxops/sgxops/audit"
)

// Paging of GET /admin/v1/audit. The endpoint is anonymous, so one request
// must cost a bounded amount of memory whatever the log's size.
const (
	// DefaultAuditPageSize is the page size when limit is absent or 0.
	DefaultAuditPageSize = 100
	// MaxAuditPageSize is the largest page; a larger limit is lowered to it.
	MaxAuditPageSize = 1000
	// auditChunk is how many entries are read from the store at a time while
	// a page is written.
	auditChunk = 100
)

// auditPage is the body of GET /admin/v1/audit: entries with
// after < seq <= min(after+limit, head.seq), in seq order.
type auditPage struct {
	Head audit.Head `json:"head"`
	// Next, when set, is the after of the next page (also in the Link
	// header, rel="next"); absent on the last page.
	Next    *uint64       `json:"next,omitempty"`
	Entries []audit.Entry `json:"entries"`
}

// auditQuery parses after and limit.
func auditQuery(q url.Values) (after uint64, limit int, err error) {
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, badRequest("after=%q is not a sequence number", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return 0, 0, badRequest("limit=%q is not a non-negative number", v)
		}
	}
	switch {
	case limit == 0:
		limit = DefaultAuditPageSize
	case limit > MaxAuditPageSize:
		limit = MaxAuditPageSize
	}
	return after, limit, nil
}

// handleAudit streams one page of the audit log. It reads the head first and
// never returns entries past it, so a page and its head agree; sequence
// numbers are contiguous, so the next page starts at after+limit.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := auditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	head, err := s.reg.AuditHead(ctx)
	if err != nil {
		return err
	}
	end := head.Seq
	if after < head.Seq && head.Seq-after > uint64(limit) {
		end = after + uint64(limit)
	}
	// The first chunk is read before the status is sent, so that the usual
	// errors (a damaged store) still get an error status.
	chunk, err := s.readAuditChunk(r, after, end)
	if err != nil {
		return err
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", "no-store")
	prefix := `{"head":` + string(hb)
	if end < head.Seq {
		h.Set("Link", fmt.Sprintf(`</admin/v1/audit?after=%d&limit=%d>; rel="next"`, end, limit))
		prefix += `,"next":` + strconv.FormatUint(end, 10)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(prefix + `,"entries":[`))
	first := true
	for len(chunk) > 0 {
		for _, e := range chunk {
			b, err := json.Marshal(e)
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			if !first {
				b = append([]byte{','}, b...)
			}
			first = false
			if _, err := w.Write(b); err != nil {
				return nil // the client went away
			}
		}
		last := chunk[len(chunk)-1].Seq
		if last >= end {
			break
		}
		if chunk, err = s.readAuditChunk(r, last, end); err != nil {
			// The status is sent: cut the connection so that the client
			// sees a truncated answer, never a short valid page.
			s.log.Error("audit page: reading the store failed mid-answer", "err", err.Error(), "request_id", requestID(ctx))
			panic(http.ErrAbortHandler)
		}
	}
	_, _ = w.Write([]byte("]}\n"))
	return nil
}

// readAuditChunk reads up to auditChunk entries with after < seq <= end.
func (s *Server) readAuditChunk(r *http.Request, after, end uint64) ([]audit.Entry, error) {
	if after >= end {
		return nil, nil
	}
	n := min(uint64(auditChunk), end-after)
	entries, err := s.store.ListAudit(r.Context(), after, int(n))
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if e.Seq > end {
			return entries[:i], nil
		}
	}
	return entries, nil
}
