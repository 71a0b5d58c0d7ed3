// Package policy is the appraisal step of attestd: it decides whether verified
// evidence is trusted and which claims go into the token.
//
// It has two independent parts, neither of which does I/O or logging:
//
//   - The Azure Attestation (MAA) policy language, versions 1.0, 1.1 and 1.2:
//     Parse turns policy text into an AST (syntax errors name line:column and the
//     expected token), Policy.Evaluate runs it over incoming claims and returns
//     whether attestation is authorized, the issued claims and the property
//     claims. PolicyHash and PolicyTokenHash reproduce MAA's x-ms-policy-hash and
//     x-ms-policy-token-hash. DefaultSGXPolicy is MAA's default SGX policy text.
//     Untrusted policies are bounded by Limits (size, rules, nesting, steps,
//     claims, value sizes).
//
//   - sgxops reference values: Appraise matches Evidence (the identity and TCB
//     verdict of a verified SGX quote) against a TrustSet of applications and
//     their releases (package release) and applies the release lifecycle
//     (candidate, active, draining, retired, revoked) and the platform rules:
//     debug enclaves, simulated evidence, TCB statuses outside the allow-list and
//     advisories outside the allow-list are rejected unless explicitly allowed.
//     TokenClaims and IncomingClaims turn the result into the x-sgxops-* claims.
//
// # Evaluation semantics
//
// Where the MAA documentation is silent the package picks the fail-safe reading
// and says so:
//
//   - A condition selects every claim of the current incoming set that satisfies
//     all of its property conditions; it holds when that selection is non-empty
//     ("!" conditions: when it is empty). An identifier binds the whole
//     selection: c.value is the set of the selected claims' values and an action
//     with value=c.value adds one claim per value. This is what the documented
//     IsSubsetOf and ContainsOnlyValue examples require; a rule fires at most
//     once.
//   - Authorization: deny() overrides permit(). Attestation is authorized only if
//     some permit() fired and no deny() fired; evaluation of authorizationrules
//     stops at the first deny(). Issuance rules run only when authorized.
//   - Claims are not de-duplicated: each add/issue appends, as the
//     JsonToClaimValue documentation describes for repeated array values.
//   - A comparison with a set (a reference such as a.value) holds for == if
//     some element is equal, for != if every element differs, for ordering
//     operators if some element satisfies it.
//   - Comparisons between values of different kinds (String, Integer, Boolean)
//     are never satisfied, for != as well. Ordering operators apply to Integer
//     values only. String comparison is case-sensitive.
//   - Keywords, property names and function names are case-insensitive;
//     identifiers that bind claims are case-sensitive. "=" is accepted as a
//     synonym of "==" inside conditions because MAA's own samples use it.
//   - Conditions are joined with "&&" only; the grammar has no "||" and the
//     parser says so. Actions per section: configurationrules issueproperty;
//     authorizationrules permit, deny, add; issuancerules add, issue,
//     issueproperty.
//   - configurationrules need version 1.1 or later; "!" conditions and function
//     calls need 1.2. JmesPath is not supported and is rejected when parsing.
package policy
