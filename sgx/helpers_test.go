package sgx_test

import "encoding/base64"

func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
