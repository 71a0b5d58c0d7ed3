package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// terminationLogMax is the most a container's termination message may hold
// (Kubernetes truncates the file at 4096 bytes).
const terminationLogMax = 4096

// fileSHA256 is the SHA-256 of the file's content, lowercase hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeTerminationLog writes infos as compact JSON to path. When the JSON is
// longer than terminationLogMax, the free-text fields (paths, messages) are
// shortened, keeping their ends, until it fits; hashes and identities are
// never shortened.
func writeTerminationLog(path string, infos []measureInfo) error {
	b, err := terminationJSON(infos)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--termination-log: %w", err)
	}
	return nil
}

func terminationJSON(infos []measureInfo) ([]byte, error) {
	for limit := 1024; ; limit /= 2 {
		b, err := json.Marshal(infos)
		if err != nil {
			return nil, err
		}
		if len(b) <= terminationLogMax {
			return b, nil
		}
		if limit < 8 {
			return nil, fmt.Errorf("--termination-log: the JSON does not fit in %d bytes", terminationLogMax)
		}
		short := make([]measureInfo, len(infos))
		for i, in := range infos {
			in.File, in.SigstructFile = shorten(in.File, limit), shorten(in.SigstructFile, limit)
			in.Error, in.SignatureError = shorten(in.Error, limit), shorten(in.SignatureError, limit)
			short[i] = in
		}
		infos = short
	}
}

// shorten keeps the last n bytes of s (the file name end of a path), marked
// with a leading "...".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
