#!/usr/bin/env node
// Acceptance probe for attestd's /attest/TdxVm and /attest/SevSnpVm with the
// official MAA client, @azure/attestation. Driven by the Go test
// attestd/attest_cvm_test.go (TestAzureAttestationJSClientCVM).
//
// Usage: node maa-cvm.js ENDPOINT TdxVm|SevSnpVm EVIDENCE_FILE [RUNTIME_DATA_FILE]
//
// The SDK (1.0.0) has no TdxVm/SevSnpVm methods, but their requests have the
// shapes of its SGX ({quote, runtimeData}) and Open Enclave ({report,
// runtimeData}) requests. The probe therefore calls attestSgxEnclave (TdxVm)
// or attestOpenEnclave (SevSnpVm) and redirects only the operation's path:
// serialization, the HTTP pipeline, token validation against /certs
// (signature, issuer, exp/nbf) and the token body parsing are the SDK's own.
//
// Prints {"ok":true,"claims":{...},"header":{...}} (exit 0) or
// {"ok":false,"message","statusCode","code"} (exit 1).
'use strict';

const fs = require('fs');
const { AttestationClient } = require('@azure/attestation');

async function run() {
  const [endpoint, type, evidencePath, rtPath] = process.argv.slice(2);
  if (!endpoint || (type !== 'TdxVm' && type !== 'SevSnpVm') || !evidencePath) {
    process.stderr.write('usage: node maa-cvm.js ENDPOINT TdxVm|SevSnpVm EVIDENCE_FILE [RUNTIME_DATA_FILE]\n');
    process.exit(2);
  }
  const evidence = fs.readFileSync(evidencePath);
  const runTimeData = rtPath ? fs.readFileSync(rtPath) : undefined;
  const client = new AttestationClient(endpoint, {
    allowInsecureConnection: endpoint.startsWith('http://'),
    validationOptions: {
      validateToken: true,
      validateExpirationTime: true,
      validateNotBeforeTime: true,
      validateIssuer: true,
      expectedIssuer: endpoint,
      timeValidationSlack: 5,
    },
  });
  // Redirect the generated operation to the CVM path; nothing else changes.
  const ops = client._client.attestation;
  const inner = ops.client;
  const send = inner.sendOperationRequest.bind(inner);
  inner.sendOperationRequest = (args, spec) => {
    if (spec && /\/attest\/(SgxEnclave|OpenEnclave)$/.test(spec.path)) {
      spec = Object.assign({}, spec, { path: '/attest/' + type });
    }
    return send(args, spec);
  };
  const opts = runTimeData ? { runTimeData } : {};
  const res = type === 'TdxVm' ? await client.attestSgxEnclave(evidence, opts) : await client.attestOpenEnclave(evidence, opts);
  const tok = res.token;
  process.stdout.write(JSON.stringify({
    ok: true,
    header: { alg: tok.algorithm, kid: tok.keyId, jku: tok.keyUrl, typ: tok.type },
    claims: tok.getBody(),
    issuer: res.body.issuer,
  }) + '\n');
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
