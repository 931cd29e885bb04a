import assert from "node:assert/strict";
import { test } from "node:test";
import { loadKey, parseKey } from "../../../src/dns/key.js";
import { classify } from "../../../src/dns/transport.js";
import { UserError } from "../../../src/errors.js";

const TEXT =
  'key "keel" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";\n};\n';

test(`a key as tsig-keygen writes it, from a file's text or from \${VAR}`, () => {
  assert.deepEqual(parseKey(TEXT, "x"), {
    name: "keel",
    algorithm: "hmac-sha256",
    secret: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
  });
  assert.equal(loadKey(`\${K}`, { K: `# comment\n${TEXT}` }).name, "keel");
});

test("a malformed key, an unknown algorithm and an unset variable are UserErrors naming --key, without the secret", () => {
  assert.throws(
    () => parseKey("key keel { secret x; };", "--key k.key"),
    /^UserError: --key k\.key is not a BIND key file/,
  );
  assert.throws(
    () => parseKey(TEXT.replace("hmac-sha256", "hmac-foo"), "--key k"),
    /unknown TSIG algorithm "hmac-foo"/,
  );
  assert.throws(
    () => loadKey(`\${NOPE}`, {}),
    (e: unknown) =>
      e instanceof UserError && /--key \$\{NOPE\}: the environment variable NOPE is not set/.test(e.message),
  );
  try {
    parseKey(TEXT.replace("algorithm", "algo"), "--key k");
  } catch (e) {
    assert.ok(!(e as Error).message.includes("c2VjcmV0"));
  }
});

test("dig and nsupdate output classified: TSIG errors, RCODEs, timeouts", () => {
  assert.equal(
    classify(
      ";; Couldn't verify signature: tsig indicates error\nk1. 0 ANY TSIG hmac-sha256. 1796241678 300 0 32335 BADSIG 0\n; Transfer failed.",
    ),
    "BADSIG",
  );
  assert.equal(
    classify("; TSIG error with server: tsig indicates error\nupdate failed: NOTAUTH(BADKEY)"),
    "BADKEY",
  );
  assert.equal(
    classify(";; ->>HEADER<<- opcode: QUERY, status: REFUSED, id: 1\n; Transfer failed."),
    "REFUSED",
  );
  assert.equal(classify("update failed: NXRRSET"), "NXRRSET");
  assert.equal(classify(";; communications error to 127.0.0.1#53: timed out"), "timeout");
  assert.equal(classify("; Communication with 127.0.0.1#5398 failed: operation canceled"), "unreachable");
});
