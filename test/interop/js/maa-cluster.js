#!/usr/bin/env node
// Key-rotation probe for attestd replicas with the official MAA client,
// @azure/attestation. Driven by the Go test test/cluster (TestClusterKeySharing).
//
// Usage: node maa-cluster.js ISSUER QUOTE_FILE RUNTIME_DATA_FILE ENDPOINT...
//
// One AttestationClient per ENDPOINT (one per replica; all replicas share
// ISSUER, the token iss). The SDK reads /certs once per client, at its first
// validated attestation, and keeps it: that is a relying party that read
// /certs before a rotation.
//
// Phase "before": every client attests and validates once, which makes it
// read /certs. The probe prints {"phase":"before","results":[...]} and waits
// for one line on stdin (the Go test rotates the signing key meanwhile).
// Phase "after": every client attests again and validates the new token with
// the /certs it read before. It prints {"phase":"after","results":[...]}.
// A result is {"endpoint","ok","kid","message"}. Exit 0 unless the usage is
// wrong; the Go test checks the results.
'use strict';

const fs = require('fs');
const readline = require('readline');
const { AttestationClient } = require('@azure/attestation');

async function attestAll(clients, quote, runTimeData) {
  const out = [];
  for (const { endpoint, client } of clients) {
    try {
      const res = await client.attestSgxEnclave(quote, { runTimeData });
      out.push({ endpoint, ok: true, kid: res.token.keyId });
    } catch (e) {
      out.push({ endpoint, ok: false, message: String((e && e.message) || e) });
    }
  }
  return out;
}

async function run() {
  const [issuer, quotePath, rtPath, ...endpoints] = process.argv.slice(2);
  if (!issuer || !quotePath || !rtPath || endpoints.length === 0) {
    process.stderr.write('usage: node maa-cluster.js ISSUER QUOTE_FILE RUNTIME_DATA_FILE ENDPOINT...\n');
    process.exit(2);
  }
  const quote = fs.readFileSync(quotePath);
  const runTimeData = fs.readFileSync(rtPath);
  const clients = endpoints.map((endpoint) => ({
    endpoint,
    client: new AttestationClient(endpoint, {
      allowInsecureConnection: endpoint.startsWith('http://'),
      validationOptions: {
        validateToken: true,
        validateExpirationTime: true,
        validateNotBeforeTime: true,
        validateIssuer: true,
        expectedIssuer: issuer,
        timeValidationSlack: 5,
      },
    }),
  }));
  const before = await attestAll(clients, quote, runTimeData);
  process.stdout.write(JSON.stringify({ phase: 'before', results: before }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once('line', resolve));
  rl.close();
  const after = await attestAll(clients, quote, runTimeData);
  process.stdout.write(JSON.stringify({ phase: 'after', results: after }) + '\n');
}

run().catch((e) => {
  process.stdout.write(JSON.stringify({ phase: 'error', message: String((e && e.message) || e) }) + '\n');
  process.exit(1);
});
