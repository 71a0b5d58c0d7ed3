package sim

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/sgxops/sgxops/collateral"
)

// Signed is a signed JSON collateral item: Body holds the exact bytes that
// Signature (raw 64-byte r‖s ECDSA P-256 over SHA-256) covers.
type Signed struct {
	Body      []byte
	Signature []byte
}

// PCSResponse renders the item as the PCS serves it, {"<key>":<body>,"signature":"<hex>"},
// keeping Body byte for byte.
func (s Signed) PCSResponse(key string) []byte {
	out := []byte(`{"` + key + `":`)
	out = append(out, s.Body...)
	out = append(out, `,"signature":"`...)
	out = append(out, hex.EncodeToString(s.Signature)...)
	return append(out, `"}`...)
}

func (p *Platform) sign(body []byte) (Signed, error) {
	sig, err := signRaw(p.keys.tcbSigning, body)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Body: body, Signature: sig[:]}, nil
}

func checkTEE(tee TEE) error {
	if tee != TEESGX && tee != TEETDX {
		return fmt.Errorf("sim: TEE %q: want %q or %q", tee, TEESGX, TEETDX)
	}
	return nil
}

// TCBInfo returns the signed TCB Info v3 for tee ("tcbInfo"), issued now.
func (p *Platform) TCBInfo(tee TEE) (Signed, error) {
	if err := checkTEE(tee); err != nil {
		return Signed{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	body, err := p.tcbInfoBody(tee, now, now.Add(p.validity()))
	if err != nil {
		return Signed{}, err
	}
	return p.sign(body)
}

// QEIdentity returns the signed QE Identity v2 ("enclaveIdentity") of the QE
// (SGX) or TD QE (TDX), issued now.
func (p *Platform) QEIdentity(tee TEE) (Signed, error) {
	if err := checkTEE(tee); err != nil {
		return Signed{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	body, err := p.qeIdentityBody(tee, now, now.Add(p.validity()))
	if err != nil {
		return Signed{}, err
	}
	return p.sign(body)
}

// crlNumber makes CRL numbers grow with time, as a CA's do.
func crlNumber(t time.Time) *big.Int { return big.NewInt(t.Unix()) }

// PCKCRL returns the DER CRL of the given PCK CA, issued now. It lists the
// platform's PCK certificate when the configuration says it is revoked and
// the certificate came from that CA.
func (p *Platform) PCKCRL(ca CA) ([]byte, error) {
	if !ca.valid() {
		return nil, fmt.Errorf("sim: PCK CA %q: want %q or %q", ca, CAProcessor, CAPlatform)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	tmpl := &x509.RevocationList{Number: crlNumber(now), ThisUpdate: now, NextUpdate: now.Add(p.validity())}
	if p.cfg.PCKRevoked && p.cfg.PCKCA == ca {
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{
			SerialNumber: p.certs.pck.SerialNumber, RevocationTime: now.Add(-time.Hour), ReasonCode: 1, // keyCompromise
		}}
	}
	key := p.keys.processorCA
	if ca == CAPlatform {
		key = p.keys.platformCA
	}
	der, err := x509.CreateRevocationList(nil, tmpl, p.certs.pckCA(ca), detSigner{key})
	if err != nil {
		return nil, fmt.Errorf("sim: creating %s PCK CRL: %w", ca, err)
	}
	return der, nil
}

// RootCACRL returns the root CA's DER CRL, issued now (it revokes nothing).
func (p *Platform) RootCACRL() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	tmpl := &x509.RevocationList{Number: crlNumber(now), ThisUpdate: now, NextUpdate: now.Add(p.validity())}
	der, err := x509.CreateRevocationList(nil, tmpl, p.certs.root, detSigner{p.keys.root})
	if err != nil {
		return nil, fmt.Errorf("sim: creating root CA CRL: %w", err)
	}
	return der, nil
}

// PCKCRLIssuerChainPEM returns the issuer chain of a PCK CRL: the PCK CA, root CA.
func (p *Platform) PCKCRLIssuerChainPEM(ca CA) []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return pemCert(p.certs.pckCA(ca), p.certs.root)
}

// TCBSigningChainPEM returns the issuer chain of TCB Info and QE Identity:
// TCB Signing certificate, root CA.
func (p *Platform) TCBSigningChainPEM() []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return pemCert(p.certs.tcbSigning, p.certs.root)
}

// Request returns the collateral request for this platform's quotes of tee.
func (p *Platform) Request(tee TEE) collateral.Request {
	cfg := p.Config()
	return collateral.Request{TEE: string(tee), FMSPC: hex.EncodeToString(cfg.FMSPC[:]), PCKCA: string(cfg.PCKCA)}
}

// Collateral returns everything needed to verify this platform's quotes for
// req (TEE, FMSPC, PCK CA), issued now. A request for another FMSPC fails
// with an error wrapping collateral.ErrUnavailable, as the PCS answers 404.
func (p *Platform) Collateral(req collateral.Request) (*collateral.Collateral, error) {
	n, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	cfg := p.Config()
	if want := hex.EncodeToString(cfg.FMSPC[:]); n.FMSPC != want {
		return nil, &collateral.FetchError{Field: "fmspc", Kind: collateral.ErrUnavailable,
			Err: fmt.Errorf("sim: no collateral for FMSPC %s (this platform's is %s)", n.FMSPC, want)}
	}
	tee, ca := TEE(n.TEE), CA(n.PCKCA)
	tcb, err := p.TCBInfo(tee)
	if err != nil {
		return nil, err
	}
	qe, err := p.QEIdentity(tee)
	if err != nil {
		return nil, err
	}
	pckCRL, err := p.PCKCRL(ca)
	if err != nil {
		return nil, err
	}
	rootCRL, err := p.RootCACRL()
	if err != nil {
		return nil, err
	}
	signing := p.TCBSigningChainPEM()
	return &collateral.Collateral{
		PCKCRLIssuerChain:     p.PCKCRLIssuerChainPEM(ca),
		RootCACRL:             rootCRL,
		PCKCRL:                pckCRL,
		TCBInfoIssuerChain:    signing,
		TCBInfo:               tcb.Body,
		TCBInfoSignature:      tcb.Signature,
		QEIdentityIssuerChain: signing,
		QEIdentity:            qe.Body,
		QEIdentitySignature:   qe.Signature,
	}, nil
}

// Get makes the platform a collateral.Source, answering in process what its
// PCS server (NewPCSServer) serves over HTTP.
func (p *Platform) Get(_ context.Context, req collateral.Request) (*collateral.Collateral, error) {
	return p.Collateral(req)
}
