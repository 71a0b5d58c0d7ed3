#!/usr/bin/env node
// Admin probe for attestd with the official MAA administration client,
// @azure/attestation's AttestationAdministrationClient (version pinned in
// package.json). Driven by the Go test attestd/azureclient_test.go
// (TestAzureAttestationJSAdminClient).
//
// Usage: node maa-admin.js ENDPOINT BEARER SIGNER_KEY SIGNER_CERT NEW_KEY NEW_CERT
//
// ENDPOINT must be https:// (the SDK sends bearer tokens only over TLS);
// trust its certificate with NODE_EXTRA_CA_CERTS. BEARER is an attestd admin
// token, handed to the SDK as an Azure TokenCredential. SIGNER_* is an
// existing policy-management key and certificate (PEM), NEW_* the one to
// add. Every response token is validated (validateToken, expectedIssuer =
// ENDPOINT).
//
// The probe lists the policy-management certificates, adds NEW_CERT signed by
// the signer, sets an SgxEnclave policy signed by the new key, resets it with
// the new key, removes NEW_CERT, and lists again. It prints one JSON object:
//   {"ok":true, "before":N, "added":{thumbprint,resolution}, "during":N,
//    "policySet":resolution, "policyReset":resolution,
//    "removed":{thumbprint,resolution}, "after":N}
// or exits 1 with {"ok":false, "step", "message", "statusCode", "code"}.
'use strict';

const fs = require('fs');
const { AttestationAdministrationClient } = require('@azure/attestation');

let step = 'setup';

async function run() {
  const [endpoint, bearer, signerKeyPath, signerCertPath, newKeyPath, newCertPath] = process.argv.slice(2);
  if (!newCertPath) {
    process.stderr.write('usage: node maa-admin.js ENDPOINT BEARER SIGNER_KEY SIGNER_CERT NEW_KEY NEW_CERT\n');
    process.exit(2);
  }
  const read = (p) => fs.readFileSync(p, 'utf8');
  const signerKey = read(signerKeyPath);
  const signerCert = read(signerCertPath);
  const newKey = read(newKeyPath);
  const newCert = read(newCertPath);
  const credential = {
    getToken: async () => ({ token: bearer, expiresOnTimestamp: Date.now() + 3600 * 1000 }),
  };
  const client = new AttestationAdministrationClient(endpoint, credential, {
    validationOptions: {
      validateToken: true,
      validateExpirationTime: true,
      validateNotBeforeTime: true,
      validateIssuer: true,
      expectedIssuer: endpoint,
      timeValidationSlack: 5,
    },
  });
  const out = { ok: true };

  step = 'list before';
  out.before = (await client.getPolicyManagementCertificates()).body.length;

  step = 'add';
  const added = await client.addPolicyManagementCertificate(newCert, signerKey, signerCert);
  out.added = { thumbprint: added.body.certificateThumbprint, resolution: added.body.certificateResolution };

  step = 'list during';
  out.during = (await client.getPolicyManagementCertificates()).body.length;

  step = 'set policy';
  const policy = 'version=1.0;authorizationrules{=>permit();};issuancerules{};';
  const set = await client.setPolicy('SgxEnclave', policy, { privateKey: newKey, certificate: newCert });
  out.policySet = set.body.policyResolution;

  step = 'reset policy';
  const reset = await client.resetPolicy('SgxEnclave', { privateKey: newKey, certificate: newCert });
  out.policyReset = reset.body.policyResolution;

  step = 'remove';
  const removed = await client.removePolicyManagementCertificate(newCert, signerKey, signerCert);
  out.removed = { thumbprint: removed.body.certificateThumbprint, resolution: removed.body.certificateResolution };

  step = 'list after';
  out.after = (await client.getPolicyManagementCertificates()).body.length;

  process.stdout.write(JSON.stringify(out) + '\n');
}

run().catch((e) => {
  process.stdout.write(JSON.stringify({
    ok: false,
    step,
    message: String((e && e.message) || e),
    statusCode: e && e.statusCode,
    code: e && e.code,
  }) + '\n');
  process.exit(1);
});
