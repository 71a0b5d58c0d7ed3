// Package corpusfetch builds the test corpus of real quotes, collateral and
// enclaves from its public origins: it downloads each verbatim file at its pinned
// commit, checks its pinned SHA-256, and rebuilds the derived files (collateral
// bundles, extracted CRL, SEV-SNP derivatives) with the project's own code.
//
// manifest/manifest.json is the only data kept in the repository: origin, path, commit and
// SHA-256 of each file, and the recipe of each derived file. The corpus bytes are
// never committed. `make corpus` runs it (cmd/sgxops-corpus).
package corpusfetch
