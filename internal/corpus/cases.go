package corpus

// The corpus's verification cases, as the project's own table: which quote is
// verified with which collateral bundle, at which time, and for SEV-SNP which
// report with which certificates. These are facts about the public origins'
// data (the origin's own pairing and time where it has one, else a pairing made
// for the corpus by FMSPC); the verdicts each test expects live with the test.
// The tables let a corpus built by `make corpus` (verbatim origin files plus
// derived files) serve every test without the corpus's curated index;
// TestCaseTablesMatchCorpusIndex checks them against that index when present.

// QuoteCase is an SGX or TDX quote paired with its collateral bundle.
type QuoteCase struct {
	ID         string
	Kind       string // "SGX v3", "TDX v4" or "TDX v5"
	Quote      string // corpus-relative path (raw, hex or 0x-hex)
	Collateral string // corpus-relative path of a dcap-qvl QuoteCollateralV3 bundle
	// OriginPairing is true when the origin itself verifies this quote with this
	// collateral; false for a pairing made for the corpus (same FMSPC).
	OriginPairing bool
	Now           int64     // verification time, Unix seconds
	NowISO        string    // the same, RFC 3339
	Window        [2]string // the collateral's validity window, RFC 3339
}

// QuoteCases are the 27 SGX/TDX cases.
var QuoteCases = []QuoteCase{
	{ID: "phala-sgx", Kind: "SGX v3", Quote: "phala-dcap-qvl/sgx_quote", Collateral: "phala-dcap-qvl/sgx_quote_collateral.json", OriginPairing: true,
		Now: 1752919277, NowISO: "2025-07-19T10:01:17Z", Window: [2]string{"2025-06-19T10:56:11Z", "2025-07-19T10:01:18Z"}},
	{ID: "phala-tdx", Kind: "TDX v4", Quote: "phala-dcap-qvl/tdx_quote", Collateral: "phala-dcap-qvl/tdx_quote_collateral.json", OriginPairing: true,
		Now: 1752919234, NowISO: "2025-07-19T10:00:34Z", Window: [2]string{"2025-06-19T10:32:27Z", "2025-07-19T10:00:35Z"}},
	{ID: "phala-tdx-outdated", Kind: "TDX v5", Quote: "phala-dcap-qvl/tdx_quote_outdated", Collateral: "phala-dcap-qvl/tdx_quote_outdated_collateral.json", OriginPairing: true,
		Now: 1774003274, NowISO: "2026-03-20T10:41:14Z", Window: [2]string{"2026-02-18T10:58:51Z", "2026-03-20T10:41:15Z"}},
	{ID: "phala-near", Kind: "TDX v4", Quote: "phala-dcap-qvl/near_quote_hex.txt", Collateral: "phala-dcap-qvl/near_quote_collateral.json", OriginPairing: true,
		Now: 1759388630, NowISO: "2025-10-02T07:03:50Z", Window: [2]string{"2025-09-02T07:41:59Z", "2025-10-02T07:03:51Z"}},
	{ID: "phala-tappd-derived", Kind: "TDX v4", Quote: "phala-dcap-qvl/quote-from-tappd.hex", Collateral: "phala-dcap-qvl/tdx_quote_collateral.json", OriginPairing: false,
		Now: 1752919234, NowISO: "2025-07-19T10:00:34Z", Window: [2]string{"2025-06-19T10:32:27Z", "2025-07-19T10:00:35Z"}},
	{ID: "phala-tdxhex-derived", Kind: "TDX v4", Quote: "phala-dcap-qvl/tdx-quote.hex", Collateral: "phala-dcap-qvl/tdx_quote_collateral.json", OriginPairing: false,
		Now: 1752919234, NowISO: "2025-07-19T10:00:34Z", Window: [2]string{"2025-06-19T10:32:27Z", "2025-07-19T10:00:35Z"}},
	{ID: "automata-v3-sgx-0825", Kind: "SGX v3", Quote: "automata/quotev3.hex", Collateral: "bundles/automata-evm-0825-sgx-00606a000000.json", OriginPairing: true,
		Now: 1755236700, NowISO: "2025-08-15T05:45:00Z", Window: [2]string{"2025-08-15T05:41:26Z", "2025-09-14T04:36:46Z"}},
	{ID: "automata-v4-tdx-0625", Kind: "TDX v4", Quote: "automata/quotev4.hex", Collateral: "bundles/automata-evm-0625-tdx-00806f050000.json", OriginPairing: true,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:51:38Z", "2025-07-04T09:19:31Z"}},
	{ID: "automata-v5-tdx-0625", Kind: "TDX v5", Quote: "automata/quotev5.dat", Collateral: "bundles/automata-evm-0625-tdx-90c06f000000.json", OriginPairing: true,
		Now: 1749945600, NowISO: "2025-06-15T00:00:00Z", Window: [2]string{"2025-06-05T03:43:45Z", "2025-07-04T09:19:31Z"}},
	{ID: "automata-v4-tdx-solana", Kind: "TDX v4", Quote: "automata/quotev4.hex", Collateral: "bundles/automata-solana-tdx-00806f050000.json", OriginPairing: true,
		Now: 1753175614, NowISO: "2025-07-22T09:13:34Z", Window: [2]string{"2025-07-07T09:20:26Z", "2025-08-06T09:06:43Z"}},
	{ID: "automata-v4-tdx-1025-derived", Kind: "TDX v4", Quote: "automata/quotev4.hex", Collateral: "bundles/automata-evm-1025-tdx-00806f050000.json", OriginPairing: false,
		Now: 1761289818, NowISO: "2025-10-24T07:10:18Z", Window: [2]string{"2025-10-19T17:48:50Z", "2025-11-12T10:45:32Z"}},
	{ID: "oe-v5-eval21", Kind: "TDX v5", Quote: "openenclave/tdx_quote_v5.bin", Collateral: "bundles/openenclave-eval21-00806f050000.json", OriginPairing: true,
		Now: 1782599235, NowISO: "2026-06-27T22:27:15Z", Window: [2]string{"2026-06-12T22:44:48Z", "2026-07-12T22:09:43Z"}},
	{ID: "oe-relaunch", Kind: "TDX v5", Quote: "openenclave/tdx_quote-moduleupdate-seamldr5.dat", Collateral: "bundles/openenclave-tdx_endorsement-90c06f000000.json", OriginPairing: true,
		Now: 1741604669, NowISO: "2025-03-10T11:04:29Z", Window: [2]string{"2025-02-26T10:37:20Z", "2025-03-22T11:31:38Z"}},
	{ID: "gtg-spr-e4-2023", Kind: "TDX v4", Quote: "go-tdx-guest/tdx_prod_quote_SPR_E4.dat", Collateral: "bundles/go-tdx-guest-2023-tdx-50806f000000.json", OriginPairing: true,
		Now: 1688173200, NowISO: "2023-07-01T01:00:00Z", Window: [2]string{"2023-06-18T08:42:58Z", "2023-07-08T07:24:59Z"}},
	{ID: "trustee-q6-derived", Kind: "TDX v4", Quote: "trustee/tdx_quote_6.dat", Collateral: "bundles/trustee-2025-10-tdx-00a06d080000.json", OriginPairing: false,
		Now: 1762289120, NowISO: "2025-11-04T20:45:20Z", Window: [2]string{"2025-10-28T06:45:09Z", "2025-11-12T10:45:32Z"}},
	{ID: "auto-sgxbin-phala-derived", Kind: "SGX v3", Quote: "automata/solana/quote_sgx.bin", Collateral: "phala-dcap-qvl/sgx_quote_collateral.json", OriginPairing: false,
		Now: 1752919277, NowISO: "2025-07-19T10:01:17Z", Window: [2]string{"2025-06-19T10:56:11Z", "2025-07-19T10:01:18Z"}},
	{ID: "gtg-cos113-0625-derived", Kind: "TDX v4", Quote: "go-tdx-guest/cos-113-tdx-quote.dat", Collateral: "bundles/automata-evm-0625-tdx-00806f050000.json", OriginPairing: false,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:51:38Z", "2025-07-04T09:19:31Z"}},
	{ID: "trustee-az-0625-derived", Kind: "TDX v4", Quote: "trustee/az-tdx-vtpm-td-quote.bin", Collateral: "bundles/automata-evm-0625-tdx-00806f050000.json", OriginPairing: false,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:51:38Z", "2025-07-04T09:19:31Z"}},
	{ID: "trustee-q5-0625-derived", Kind: "TDX v5", Quote: "trustee/tdx_quote_5.dat", Collateral: "bundles/automata-evm-0625-tdx-90c06f000000.json", OriginPairing: false,
		Now: 1749945600, NowISO: "2025-06-15T00:00:00Z", Window: [2]string{"2025-06-05T03:43:45Z", "2025-07-04T09:19:31Z"}},
	{ID: "phala-outdated-q-0625-derived", Kind: "TDX v5", Quote: "phala-dcap-qvl/tdx_quote_outdated", Collateral: "bundles/automata-evm-0625-tdx-90c06f000000.json", OriginPairing: false,
		Now: 1749945600, NowISO: "2025-06-15T00:00:00Z", Window: [2]string{"2025-06-05T03:43:45Z", "2025-07-04T09:19:31Z"}},
	{ID: "oe-relaunch-q-0625-derived", Kind: "TDX v5", Quote: "openenclave/tdx_quote-moduleupdate-seamldr5.dat", Collateral: "bundles/automata-evm-0625-tdx-90c06f000000.json", OriginPairing: false,
		Now: 1749945600, NowISO: "2025-06-15T00:00:00Z", Window: [2]string{"2025-06-05T03:43:45Z", "2025-07-04T09:19:31Z"}},
	{ID: "oe-v5-0625-derived", Kind: "TDX v5", Quote: "openenclave/tdx_quote_v5.bin", Collateral: "bundles/automata-evm-0625-tdx-00806f050000.json", OriginPairing: false,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:51:38Z", "2025-07-04T09:19:31Z"}},
	{ID: "gtg-v5-0625-derived", Kind: "TDX v5", Quote: "go-tdx-guest/quote_v5_sample.dat", Collateral: "bundles/automata-evm-0625-tdx-90c06f000000.json", OriginPairing: false,
		Now: 1749945600, NowISO: "2025-06-15T00:00:00Z", Window: [2]string{"2025-06-05T03:43:45Z", "2025-07-04T09:19:31Z"}},
	{ID: "trustee-q4-2023-derived", Kind: "TDX v4", Quote: "trustee/tdx_quote_4.dat", Collateral: "bundles/go-tdx-guest-2023-tdx-50806f000000.json", OriginPairing: false,
		Now: 1688173200, NowISO: "2023-07-01T01:00:00Z", Window: [2]string{"2023-06-18T08:42:58Z", "2023-07-08T07:24:59Z"}},
	{ID: "oe-v4-2023-derived", Kind: "TDX v4", Quote: "openenclave/tdx_quote.bin", Collateral: "bundles/go-tdx-guest-2023-tdx-50806f000000.json", OriginPairing: false,
		Now: 1688173200, NowISO: "2023-07-01T01:00:00Z", Window: [2]string{"2023-06-18T08:42:58Z", "2023-07-08T07:24:59Z"}},
	{ID: "trustee-occlum-tcbv2-derived", Kind: "SGX v3", Quote: "trustee/occlum_quote.dat", Collateral: "bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json", OriginPairing: false,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:25:11Z", "2025-07-04T09:19:31Z"}},
	{ID: "auto-v3-tcbv2-0625-derived", Kind: "SGX v3", Quote: "automata/quotev3.hex", Collateral: "bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json", OriginPairing: false,
		Now: 1749095100, NowISO: "2025-06-05T03:45:00Z", Window: [2]string{"2025-06-04T09:25:11Z", "2025-07-04T09:19:31Z"}},
}

// SNPCase is a SEV-SNP attestation report with the certificates that verify it.
type SNPCase struct {
	ID     string
	Report string   // path under sev-snp/ (raw bytes, or hex text when it ends in .hex)
	Certs  []string // paths under sev-snp/: VCEK or VLEK, then ASK/ARK (DER or PEM)
	At     string   // verification time, RFC 3339
	// OK is the origin's verdict: true when the report verifies; false for the
	// origins' own negative-test mutations of real reports.
	OK bool
	// Measurement is the launch digest (hex) of a report that verifies.
	Measurement string
}

// SNPCases are the 14 SEV-SNP cases.
var SNPCases = []SNPCase{
	{ID: "gsg-milan-vcek", Report: "go-sev-guest/attestation.bin", Certs: []string{"go-sev-guest/vcek.testcer", "go-sev-guest/ask_ark_milan.pem"}, At: "2022-09-24T01:00:00Z", OK: true,
		Measurement: "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"},
	{ID: "virtee-milan-vcek", Report: "virtee-sev/report_milan.hex", Certs: []string{"virtee-sev/vcek_milan.der", "go-sev-guest/ask_ark_milan.pem"}, At: "2023-04-04T19:23:43Z", OK: true},
	{ID: "virtee-milan-vcek-tampered-b21", Report: "derived/tampered/virtee-report_milan-byte21-xor80.bin", Certs: []string{"virtee-sev/vcek_milan.der", "go-sev-guest/ask_ark_milan.pem"}, At: "2023-04-04T19:23:43Z", OK: false},
	{ID: "trustee-milan-vcek", Report: "trustee/snp/test-report.bin", Certs: []string{"trustee/snp/test-vcek.der", "trustee/snp/milan_ask_ark_asvk.pem"}, At: "2023-01-25T17:58:26Z", OK: true},
	{ID: "trustee-milan-vcek-tampered-b42", Report: "derived/tampered/trustee-test-report-byte42-plus1.bin", Certs: []string{"trustee/snp/test-vcek.der", "trustee/snp/milan_ask_ark_asvk.pem"}, At: "2023-01-25T17:58:26Z", OK: false},
	{ID: "trustee-milan-vcek-tampered-b384", Report: "derived/tampered/trustee-test-report-byte384-plus1.bin", Certs: []string{"trustee/snp/test-vcek.der", "trustee/snp/milan_ask_ark_asvk.pem"}, At: "2023-01-25T17:58:26Z", OK: false},
	{ID: "trustee-milan-vlek-aws", Report: "trustee/snp/test-vlek-report.bin", Certs: []string{"trustee/snp/test-vlek.der", "go-sev-guest/ask_ark_milan_vlek.pem"}, At: "2024-12-11T22:14:21Z", OK: true},
	{ID: "trustee-milan-vlek-tampered-b42", Report: "derived/tampered/trustee-test-vlek-report-byte42-plus1.bin", Certs: []string{"trustee/snp/test-vlek.der", "go-sev-guest/ask_ark_milan_vlek.pem"}, At: "2024-12-11T22:14:21Z", OK: false},
	{ID: "trustee-milan-vlek-tampered-b384", Report: "derived/tampered/trustee-test-vlek-report-byte384-plus1.bin", Certs: []string{"trustee/snp/test-vlek.der", "go-sev-guest/ask_ark_milan_vlek.pem"}, At: "2024-12-11T22:14:21Z", OK: false},
	{ID: "trustee-genoa-e2e", Report: "derived/trustee-e2e-report.bin", Certs: []string{"derived/trustee-e2e-vcek.der", "go-sev-guest/ask_ark_genoa.pem"}, At: "2025-05-28T17:57:03Z", OK: true},
	{ID: "azure-milan-hcl", Report: "trustee/az-snp-vtpm/hcl-report.bin", Certs: []string{"trustee/az-snp-vtpm/vcek.pem"}, At: "2023-05-03T21:22:19Z", OK: true},
	{ID: "azure-milan-hcl-tampered-1a6", Report: "derived/tampered/az-milan-hcl-report-byte1a6-zero.bin", Certs: []string{"trustee/az-snp-vtpm/vcek.pem"}, At: "2023-05-03T21:22:19Z", OK: false},
	{ID: "azure-milan-hcl-tampered-6e0", Report: "derived/tampered/az-milan-hcl-report-byte6e0-plus1.bin", Certs: []string{"trustee/az-snp-vtpm/vcek.pem"}, At: "2023-05-03T21:22:19Z", OK: false},
	{ID: "azure-genoa-hcl", Report: "derived/az-genoa-hcl-report.bin", Certs: []string{"trustee/az-snp-vtpm/vcek-genoa.pem", "go-sev-guest/ask_ark_genoa.pem"}, At: "2025-01-25T02:21:48Z", OK: true},
}
