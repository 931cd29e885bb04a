/**
 * The image and seed files apply hands to hypervisors: an image is used only when its bytes
 * match the declared digest (a path in place; a URL fetched once into `.keel/images/` under its
 * digest, following redirects, never left under its final name when it does not match), and
 * the cidata images of machines no longer declared are pruned.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Image } from "../../../src/inventory/model.js";
import { ImageDigestMismatch, localImage, pruneLocalSeeds } from "../../../src/provision/artifacts.js";
import { tempDir } from "../../helpers/daemons.js";

const BYTES = Buffer.from("not really a qcow2 image, but bytes with a digest\n");
const HEX = createHash("sha256").update(BYTES).digest("hex");
const SHA1 = createHash("sha1").update(BYTES).digest("hex");
let server: Server;
let base: string;
let hits = 0;

before(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === "/old") {
      res.writeHead(302, { location: "/image" }).end();
      return;
    }
    if (req.url === "/image") res.writeHead(200).end(BYTES);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
after(() => server.close());

const image = (source: Image["source"], hex = HEX, algorithm: "sha256" | "sha1" = "sha256"): Image => ({
  name: "debian-12",
  source,
  checksum: { algorithm, hex },
  format: "qcow2",
  pos: { file: "keel.yaml", line: 1, col: 1 },
});

test("a path image is used in place when its digest matches (SHA-256 or SHA-1)", async () => {
  const dir = tempDir("keel-art-");
  const file = join(dir, "img.qcow2");
  writeFileSync(file, BYTES);
  assert.equal(await localImage(image({ path: file }), dir, new Map()), file);
  assert.equal(await localImage(image({ path: file }, SHA1, "sha1"), dir, new Map()), file);
});

test("a path image whose digest differs is refused, naming both digests", async () => {
  const dir = tempDir("keel-art-");
  const file = join(dir, "img.qcow2");
  writeFileSync(file, BYTES);
  const wrong = "0".repeat(64);
  await assert.rejects(localImage(image({ path: file }, wrong), dir, new Map()), (e: unknown) => {
    assert.ok(e instanceof ImageDigestMismatch);
    assert.equal(
      e.message,
      `image "debian-12": sha256 of ${file} is ${HEX}, but the inventory declares ${wrong}; the image is not used`,
    );
    return true;
  });
});

test("a URL image is fetched once (through a redirect) into .keel/images under its digest", async () => {
  const dir = tempDir("keel-art-");
  hits = 0;
  const got = await localImage(image({ url: `${base}/old` }), dir, new Map());
  assert.equal(got, join(dir, ".keel", "images", `sha256-${HEX}.qcow2`));
  assert.equal(hits, 2);
  await localImage(image({ url: `${base}/old` }), dir, new Map());
  assert.equal(hits, 2, "the cached file is verified, not fetched again");
});

test("a URL image whose bytes do not match leaves no file under its name, and an HTTP error is named", async () => {
  const dir = tempDir("keel-art-");
  await assert.rejects(
    localImage(image({ url: `${base}/image` }, "1".repeat(64)), dir, new Map()),
    ImageDigestMismatch,
  );
  assert.deepEqual(readdirSync(join(dir, ".keel", "images")), []);
  await assert.rejects(
    localImage(image({ url: `${base}/gone` }), dir, new Map()),
    /answered HTTP 404; expected 200/,
  );
});

test("pruning keeps the declared machines' cidata images and removes the rest", () => {
  const dir = tempDir("keel-art-");
  const cidata = join(dir, ".keel", "cidata");
  mkdirSync(cidata, { recursive: true });
  const keep = "a".repeat(64);
  const old = "b".repeat(64);
  for (const f of [`${keep}.iso`, `${old}.iso`, `${keep}.iso.part-123`, "notes.txt"])
    writeFileSync(join(cidata, f), "");
  assert.deepEqual(pruneLocalSeeds(dir, new Set([keep])).sort(), [`${keep}.iso.part-123`, `${old}.iso`]);
  assert.deepEqual(readdirSync(cidata).sort(), [`${keep}.iso`, "notes.txt"]);
  assert.ok(existsSync(join(cidata, `${keep}.iso`)));
});
