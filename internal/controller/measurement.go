package controller

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Measurement is what `sgxops measure --output json` reports for the
// artifact (its termination message), plus where the build came from.
// Unknown JSON fields are ignored.
type Measurement struct {
	File           string  `json:"file"`
	Error          string  `json:"error,omitempty"`
	Format         string  `json:"format,omitempty"`
	ArtifactSHA256 string  `json:"artifact_sha256,omitempty"`
	MREnclave      string  `json:"mrenclave,omitempty"`
	MRSigner       string  `json:"mrsigner,omitempty"`
	ISVProdID      *uint16 `json:"isv_prod_id,omitempty"`
	ISVSVN         *uint16 `json:"isv_svn,omitempty"`
	Debug          *bool   `json:"debug,omitempty"`
	// Signed is false for an artifact without a SIGSTRUCT (a bare SGXS
	// stream, e.g. a simulated build): it has no signature to check.
	Signed         *bool  `json:"signed,omitempty"`
	SignatureValid *bool  `json:"signature_valid,omitempty"`
	SignatureError string `json:"signature_error,omitempty"`

	// Set by the operator, not by measure.
	BuilderImageDigest string `json:"-"`
	SourceRef          string `json:"-"`
}

// Measurement errors, with the condition reason they map to.
var (
	// ErrMeasurementInvalid: the termination message is missing or malformed.
	ErrMeasurementInvalid = errors.New("controller: measurement invalid")
	// ErrDebugEnclave: the artifact is a DEBUG enclave (its memory is readable
	// by the host); never registered.
	ErrDebugEnclave = errors.New("controller: DEBUG enclave refused")
)

// ParseMeasurement reads the termination message of the measuring container:
// the JSON array `sgxops measure --output json` prints (one object is
// accepted too). The first entry is the artifact.
func ParseMeasurement(msg string) (*Measurement, error) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil, fmt.Errorf("%w: empty termination message", ErrMeasurementInvalid)
	}
	var list []Measurement
	if strings.HasPrefix(msg, "{") {
		var one Measurement
		if err := json.Unmarshal([]byte(msg), &one); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMeasurementInvalid, err)
		}
		list = []Measurement{one}
	} else if err := json.Unmarshal([]byte(msg), &list); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMeasurementInvalid, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: no artifact in the report", ErrMeasurementInvalid)
	}
	m := list[0]
	if m.Error != "" {
		return nil, fmt.Errorf("%w: %s: %s", ErrMeasurementInvalid, m.File, m.Error)
	}
	m.MREnclave = strings.ToLower(m.MREnclave)
	m.MRSigner = strings.ToLower(m.MRSigner)
	if !isHex32(m.MREnclave) {
		return nil, fmt.Errorf("%w: mrenclave %q is not 64 hex digits", ErrMeasurementInvalid, m.MREnclave)
	}
	if m.MRSigner != "" && !isHex32(m.MRSigner) {
		return nil, fmt.Errorf("%w: mrsigner %q is not 64 hex digits", ErrMeasurementInvalid, m.MRSigner)
	}
	unsigned := m.Signed != nil && !*m.Signed
	if !unsigned && m.SignatureValid != nil && !*m.SignatureValid {
		return nil, fmt.Errorf("%w: %s: SIGSTRUCT signature invalid: %s", ErrMeasurementInvalid, m.File, m.SignatureError)
	}
	if m.Debug != nil && *m.Debug {
		return &m, fmt.Errorf("%w: %s has the DEBUG attribute (MRENCLAVE %s)", ErrDebugEnclave, m.File, m.MREnclave)
	}
	return &m, nil
}

func isHex32(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// Keys of the measurement Secret <app>-<revision>-measurement. Clients that
// pin MRENCLAVE read it from there.
const (
	KeyMREnclave      = "mrenclave"
	KeyMRSigner       = "mrsigner"
	KeyISVProdID      = "isvprodid"
	KeyISVSVN         = "isvsvn"
	KeyArtifactSHA256 = "artifact-sha256"
	KeyBuilderImage   = "builder-image-digest"
	KeySourceRef      = "source-ref"
	KeyRevision       = "revision"
)

// secretData is m as the Secret's string data.
func (m *Measurement) secretData(revision string) map[string]string {
	d := map[string]string{KeyMREnclave: m.MREnclave, KeyRevision: revision}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set(KeyMRSigner, m.MRSigner)
	set(KeyArtifactSHA256, m.ArtifactSHA256)
	set(KeyBuilderImage, m.BuilderImageDigest)
	set(KeySourceRef, m.SourceRef)
	if m.ISVProdID != nil {
		d[KeyISVProdID] = strconv.Itoa(int(*m.ISVProdID))
	}
	if m.ISVSVN != nil {
		d[KeyISVSVN] = strconv.Itoa(int(*m.ISVSVN))
	}
	return d
}

// measurementFromSecret reads back what secretData wrote.
func measurementFromSecret(s *corev1.Secret) (*Measurement, error) {
	get := func(k string) string { return string(s.Data[k]) }
	m := &Measurement{MREnclave: get(KeyMREnclave), MRSigner: get(KeyMRSigner), ArtifactSHA256: get(KeyArtifactSHA256),
		BuilderImageDigest: get(KeyBuilderImage), SourceRef: get(KeySourceRef)}
	if !isHex32(m.MREnclave) {
		return nil, fmt.Errorf("%w: Secret %s: mrenclave %q", ErrMeasurementInvalid, s.Name, m.MREnclave)
	}
	for _, f := range []struct {
		key string
		dst **uint16
	}{{KeyISVProdID, &m.ISVProdID}, {KeyISVSVN, &m.ISVSVN}} {
		if v := get(f.key); v != "" {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("%w: Secret %s: %s %q", ErrMeasurementInvalid, s.Name, f.key, v)
			}
			u := uint16(n)
			*f.dst = &u
		}
	}
	return m, nil
}
