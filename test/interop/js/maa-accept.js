#!/usr/bin/env node
// Acceptance probe for attestd with the official MAA client, @azure/attestation
// (version pinned in package.json). Driven by the Go test
// attestd/azureclient_test.go (TestAzureAttestationJSClient).
//
// Usage: node maa-accept.js ENDPOINT QUOTE_FILE [RUNTIME_DATA_FILE] [EXPECTED_ISSUER]
//
// ENDPOINT is attestd's base URL (no trailing slash). The client is
// credential-less (attestation, /certs and the OpenID metadata are anonymous),
// allows plain HTTP only for http:// endpoints, and validates every token:
// validateToken must be true, or the SDK silently skips all checks.
// EXPECTED_ISSUER defaults to ENDPOINT.
//
// Prints one JSON object on stdout and exits 0 when the attestation and
// token validation succeeded:
//   {"ok":true, "openid":{...}, "signers":[{"kid","certs"}], "header":{...},
//    "claims":{...}, "binding":bool, "ehd":bool, "body":{...}}
// or exits 1 with {"ok":false, "message", "statusCode", "code"}.
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const { AttestationClient } = require('@azure/attestation');

async function run() {
  const [endpoint, quotePath, rtPath, expectedIssuer] = process.argv.slice(2);
  if (!endpoint || !quotePath) {
    process.stderr.write('usage: node maa-accept.js ENDPOINT QUOTE_FILE [RUNTIME_DATA_FILE] [EXPECTED_ISSUER]\n');
    process.exit(2);
  }
  const quote = fs.readFileSync(quotePath);
  const runTimeData = rtPath ? fs.readFileSync(rtPath) : undefined;
  const client = new AttestationClient(endpoint, {
    allowInsecureConnection: endpoint.startsWith('http://'),
    validationOptions: {
      validateToken: true,
      validateExpirationTime: true,
      validateNotBeforeTime: true,
      validateIssuer: true,
      expectedIssuer: expectedIssuer || endpoint,
      timeValidationSlack: 5,
    },
  });

  const openid = await client.getOpenIdMetadata();
  const signers = (await client.getAttestationSigners()).map((s) => ({ kid: s.keyId, certs: s.certificates.length }));
  const res = await client.attestSgxEnclave(quote, runTimeData ? { runTimeData } : {});
  const tok = res.token;
  const claims = tok.getBody();
  const out = {
    ok: true,
    openid,
    signers,
    header: { alg: tok.algorithm, kid: tok.keyId, jku: tok.keyUrl, typ: tok.type },
    claims,
    body: {
      mrEnclave: res.body.mrEnclave,
      mrSigner: res.body.mrSigner,
      productId: res.body.productId,
      svn: res.body.svn,
      isDebuggable: res.body.isDebuggable,
      issuer: res.body.issuer,
      policyHash: res.body.policyHash ? Buffer.from(res.body.policyHash).toString('base64url') : undefined,
    },
  };
  if (runTimeData) {
    // The relying party's own binding checks.
    const want = crypto.createHash('sha256').update(runTimeData).digest('hex');
    out.binding = String(claims['x-ms-sgx-report-data'] || '').slice(0, 64).toLowerCase() === want;
    const ehd = res.body.enclaveHeldData ? Buffer.from(res.body.enclaveHeldData) : undefined;
    out.ehd = !!ehd && ehd.equals(runTimeData);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

run().catch((e) => {
  process.stdout.write(JSON.stringify({
    ok: false,
    message: String((e && e.message) || e),
    statusCode: e && e.statusCode,
    code: e && e.code,
  }) + '\n');
  process.exit(1);
});
