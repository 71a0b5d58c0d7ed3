#!/usr/bin/env node
// Runs the independent JS DCAP verifier (@phala/dcap-qvl) over one quote.
//
// Usage: node verify.js QUOTE_FILE COLLATERAL_JSON ROOT_CA_PEM UNIX_TIME
//        node verify.js --batch MANIFEST_JSON
//
// QUOTE_FILE is the raw quote, COLLATERAL_JSON the collateral bundle in the
// dcap-qvl QuoteCollateralV3 layout (sgxops's bundle format), ROOT_CA_PEM the
// trust anchor. Prints one JSON object on stdout:
//   {"status": "...", "advisory_ids": [...]}   exit 0: the quote verified
//   {"error": "message: cause: ..."}            exit 1: verification failed
// Exit 2 means bad usage or unreadable input.
//
// With --batch, MANIFEST_JSON is an array of {"quote", "collateral", "root",
// "time"} (file paths and a unix time, as above) and the output is one JSON
// array of the result objects, in order; the exit status is 0 unless the
// manifest itself is unusable. One process for many quotes saves node's
// start-up time.
'use strict';

const fs = require('fs');
const { QuoteVerifier } = require('@phala/dcap-qvl');

function fail(code, msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + '\n');
  process.exit(code);
}

function pemToDer(pem) {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!m) {
    throw new Error('root CA file holds no PEM certificate');
  }
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

function errorChain(e) {
  let msg = e && e.message ? e.message : String(e);
  for (let c = e && e.cause; c; c = c.cause) {
    msg += ': ' + (c.message || String(c));
  }
  return msg;
}

// verifyOne verifies one quote and returns the result object.
function verifyOne(quoteFile, collateralFile, rootFile, time) {
  let quote, collateral, root, now;
  try {
    quote = new Uint8Array(fs.readFileSync(quoteFile));
    collateral = JSON.parse(fs.readFileSync(collateralFile, 'utf8'));
    root = pemToDer(fs.readFileSync(rootFile, 'utf8'));
    now = Number.parseInt(String(time), 10);
    if (!Number.isFinite(now)) {
      throw new Error('UNIX_TIME is not an integer: ' + time);
    }
  } catch (e) {
    return { input_error: errorChain(e) };
  }
  try {
    const result = QuoteVerifier.newWithRootCa(root).verify(quote, collateral, now);
    return { status: result.status, advisory_ids: result.advisory_ids || [] };
  } catch (e) {
    return { error: errorChain(e) };
  }
}

const args = process.argv.slice(2);
if (args.length === 2 && args[0] === '--batch') {
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    if (!Array.isArray(manifest)) {
      throw new Error('manifest is not a JSON array');
    }
  } catch (e) {
    fail(2, errorChain(e));
  }
  const out = manifest.map((c) => verifyOne(c.quote, c.collateral, c.root, c.time));
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}
if (args.length !== 4) {
  fail(2, 'usage: node verify.js QUOTE_FILE COLLATERAL_JSON ROOT_CA_PEM UNIX_TIME | --batch MANIFEST_JSON');
}
const r = verifyOne(args[0], args[1], args[2], args[3]);
if (r.input_error) {
  fail(2, r.input_error);
}
process.stdout.write(JSON.stringify(r) + '\n');
process.exit(r.error ? 1 : 0);
