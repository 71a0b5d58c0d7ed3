package sim

import (
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
)

// Response headers of the Intel PCS v4 API that carry issuer chains
// (URL-encoded PEM, leaf first).
const (
	HeaderTCBInfoIssuerChain    = "TCB-Info-Issuer-Chain"
	HeaderQEIdentityIssuerChain = "SGX-Enclave-Identity-Issuer-Chain"
	HeaderPCKCRLIssuerChain     = "SGX-PCK-CRL-Issuer-Chain"
	// HeaderSimulated is sgxops's own marker on every simulated PCS response.
	HeaderSimulated = "Sgxops-Simulated"
)

// NewPCSServer returns an HTTP handler serving p's collateral on the Intel PCS
// v4 paths, with Intel's response bodies and headers:
//
//	GET /sgx/certification/v4/tcb?fmspc=HEX        SGX TCB Info
//	GET /tdx/certification/v4/tcb?fmspc=HEX        TDX TCB Info
//	GET /sgx/certification/v4/qe/identity          QE Identity
//	GET /tdx/certification/v4/qe/identity          TD QE Identity
//	GET /sgx/certification/v4/pckcrl?ca=processor|platform[&encoding=der|pem]
//	GET /sgx/certification/v4/rootcacrl            root CA CRL (DER)
//
// Collateral is issued at request time with the platform's clock. Every
// response also carries "Sgxops-Simulated: true".
func NewPCSServer(p *Platform) http.Handler {
	s := &pcsServer{p: p}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sgx/certification/v4/tcb", s.tcbInfo(TEESGX))
	mux.HandleFunc("GET /tdx/certification/v4/tcb", s.tcbInfo(TEETDX))
	mux.HandleFunc("GET /sgx/certification/v4/qe/identity", s.qeIdentity(TEESGX))
	mux.HandleFunc("GET /tdx/certification/v4/qe/identity", s.qeIdentity(TEETDX))
	mux.HandleFunc("GET /sgx/certification/v4/pckcrl", s.pckCRL)
	mux.HandleFunc("GET /sgx/certification/v4/rootcacrl", s.rootCACRL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderSimulated, "true")
		mux.ServeHTTP(w, r)
	})
}

type pcsServer struct{ p *Platform }

// escapeChain percent-encodes a PEM chain as Intel does in headers: everything
// but unreserved characters, so that both query and path unescaping decode it
// (in particular '+' of base64 becomes %2B, never a space).
func escapeChain(pemChain []byte) string {
	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
	var b strings.Builder
	for _, c := range pemChain {
		if strings.IndexByte(unreserved, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func pcsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, "sgxops SIMULATED PCS:", msg)
}

func (s *pcsServer) tcbInfo(tee TEE) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("fmspc")
		if q == "" {
			pcsError(w, http.StatusBadRequest, "missing fmspc parameter")
			return
		}
		fmspc, err := hex.DecodeString(q)
		if err != nil || len(fmspc) != 6 {
			pcsError(w, http.StatusBadRequest, "fmspc must be 6 bytes of hex")
			return
		}
		if cfg := s.p.Config(); [6]byte(fmspc) != cfg.FMSPC {
			pcsError(w, http.StatusNotFound, fmt.Sprintf("no TCB Info for FMSPC %s (this platform's is %x)", q, cfg.FMSPC))
			return
		}
		info, err := s.p.TCBInfo(tee)
		if err != nil {
			pcsError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set(HeaderTCBInfoIssuerChain, escapeChain(s.p.TCBSigningChainPEM()))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(info.PCSResponse("tcbInfo"))
	}
}

func (s *pcsServer) qeIdentity(tee TEE) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.p.QEIdentity(tee)
		if err != nil {
			pcsError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set(HeaderQEIdentityIssuerChain, escapeChain(s.p.TCBSigningChainPEM()))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(id.PCSResponse("enclaveIdentity"))
	}
}

func (s *pcsServer) pckCRL(w http.ResponseWriter, r *http.Request) {
	ca := CA(r.URL.Query().Get("ca"))
	if !ca.valid() {
		pcsError(w, http.StatusBadRequest, `ca must be "processor" or "platform"`)
		return
	}
	enc := r.URL.Query().Get("encoding")
	if enc != "" && enc != "der" && enc != "pem" {
		pcsError(w, http.StatusBadRequest, `encoding must be "der" or "pem"`)
		return
	}
	der, err := s.p.PCKCRL(ca)
	if err != nil {
		pcsError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set(HeaderPCKCRLIssuerChain, escapeChain(s.p.PCKCRLIssuerChainPEM(ca)))
	writeCRL(w, der, enc == "der")
}

func (s *pcsServer) rootCACRL(w http.ResponseWriter, r *http.Request) {
	der, err := s.p.RootCACRL()
	if err != nil {
		pcsError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeCRL(w, der, r.URL.Query().Get("encoding") != "pem")
}

// writeCRL writes a CRL as DER (application/pkix-crl) or PEM (application/x-pem-file).
func writeCRL(w http.ResponseWriter, der []byte, asDER bool) {
	if asDER {
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}
