import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AddressError,
  canonicalAddress,
  contains,
  firstUsable,
  formatPrefix,
  isAddress,
  isNetworkOrBroadcast,
  lastUsable,
  overlaps,
  parsePrefix,
  tryParseAddress,
} from "../../../src/net/prefix.js";

test("parsePrefix accepts IPv4 and IPv6 prefixes with host bits zero", () => {
  assert.equal(formatPrefix(parsePrefix("10.20.0.0/24")), "10.20.0.0/24");
  assert.equal(parsePrefix("10.20.0.0/24").family, 4);
  assert.equal(formatPrefix(parsePrefix("FD00:0::/64")), "fd00::/64");
  assert.equal(parsePrefix("fd00::/64").family, 6);
});

test("parsePrefix rejects host bits and names the correct prefix", () => {
  assert.throws(() => parsePrefix("10.20.0.1/24"), {
    name: "AddressError",
    message: "10.20.0.1/24 has host bits set; did you mean 10.20.0.0/24?",
  });
  assert.throws(() => parsePrefix("fd00::1/64"), /did you mean fd00::\/64\?/);
});

test("parsePrefix rejects malformed prefixes, lengths and lax IPv4 forms", () => {
  for (const bad of [
    "10.20.0.0",
    "10.20.0.0/33",
    "10.20/16",
    "0xa.0.0.0/8",
    "fd00::/129",
    "x/8",
    "fe80::%eth0/64",
  ]) {
    assert.throws(() => parsePrefix(bad), AddressError, bad);
  }
});

test("contains checks membership and never matches across families", () => {
  const p = parsePrefix("10.20.0.0/24");
  assert.equal(contains(p, "10.20.0.200"), true);
  assert.equal(contains(p, "10.20.1.1"), false);
  assert.equal(contains(p, "fd00::1"), false);
  assert.equal(contains(parsePrefix("fd00::/64"), "fd00::abcd"), true);
});

test("overlaps is true when one prefix contains the other", () => {
  assert.equal(overlaps(parsePrefix("10.20.0.0/24"), parsePrefix("10.0.0.0/8")), true);
  assert.equal(overlaps(parsePrefix("10.0.0.0/8"), parsePrefix("10.20.0.128/25")), true);
  assert.equal(overlaps(parsePrefix("10.20.0.0/25"), parsePrefix("10.20.0.128/25")), false);
  assert.equal(overlaps(parsePrefix("10.20.0.0/24"), parsePrefix("fd00::/8")), false);
});

test("isNetworkOrBroadcast applies to IPv4 prefixes shorter than /31 only", () => {
  const p = parsePrefix("10.20.0.0/24");
  assert.equal(isNetworkOrBroadcast(p, "10.20.0.0"), true);
  assert.equal(isNetworkOrBroadcast(p, "10.20.0.255"), true);
  assert.equal(isNetworkOrBroadcast(p, "10.20.0.1"), false);
  assert.equal(isNetworkOrBroadcast(parsePrefix("10.20.0.0/31"), "10.20.0.0"), false);
  assert.equal(isNetworkOrBroadcast(parsePrefix("fd00::/64"), "fd00::"), false);
});

test("canonicalAddress compresses IPv6 (RFC 5952) and keeps IPv4 dotted quads", () => {
  assert.equal(canonicalAddress("FD00:0:0:0:0:0:0:1"), "fd00::1");
  assert.equal(canonicalAddress("10.20.0.4"), "10.20.0.4");
  assert.equal(isAddress("10.1"), false);
  assert.equal(isAddress("::1"), true);
});

test("tryParseAddress takes IPv4 as four decimal parts of 0-255 only, and IPv6 without a zone", () => {
  for (const ok of ["0.0.0.0", "10.20.0.4", "255.255.255.255", "::1", "fd00::4", "::ffff:10.0.0.1"])
    assert.ok(tryParseAddress(ok), ok);
  for (const bad of [
    "256.1.1.1",
    "10.20.0.300",
    "010.1.1.1",
    "10.1.1",
    "10.1.1.1.1",
    "0x0a.1.1.1",
    "10.1.1.1 ",
    "fe80::1%eth0",
    "",
    "h1",
  ])
    assert.equal(tryParseAddress(bad), undefined, bad);
  assert.equal(tryParseAddress("10.20.0.4")?.kind(), "ipv4");
});

test("first and last usable addresses skip network/broadcast of IPv4 prefixes shorter than /31", () => {
  const v4 = parsePrefix("10.20.0.0/24");
  assert.equal(canonicalAddress(firstUsable(v4)), "10.20.0.1");
  assert.equal(canonicalAddress(lastUsable(v4)), "10.20.0.254");
  const p31 = parsePrefix("10.20.0.0/31");
  assert.equal(canonicalAddress(firstUsable(p31)), "10.20.0.0");
  assert.equal(canonicalAddress(lastUsable(p31)), "10.20.0.1");
  const carry = parsePrefix("10.20.0.0/23");
  assert.equal(canonicalAddress(lastUsable(carry)), "10.20.1.254");
  const v6 = parsePrefix("fd00::/120");
  assert.equal(canonicalAddress(firstUsable(v6)), "fd00::");
  assert.equal(canonicalAddress(lastUsable(v6)), "fd00::ff");
});
