/**
 * cloud-init NoCloud seeds of `keel render` (contract `docs/render.md`), for every
 * host with `vm:` (cloud-init docs, "NoCloud" datasource):
 *
 * - `cloud-init/HOST/user-data`: `#cloud-config` with `users` (name, `ssh_authorized_keys`,
 *   `sudo: ALL=(ALL) NOPASSWD:ALL` when `sudo`, `shell: /bin/bash`), `packages`,
 *   `package_upgrade`, and `ssh_pwauth: false` (SSH by key only, as the inventory promises).
 * - `cloud-init/HOST/meta-data`: `instance-id: keel-SITE-HOST-INSTANCE` (stable: it changes
 *   only when `vm.instance` is bumped, which makes cloud-init run again) and `local-hostname`.
 *   Written as indented JSON, which is YAML (see `toJsonYaml`), as is network-config.
 * - `cloud-init/HOST/network-config`: network config version 2, one ethernet matched by
 *   `macaddress` (`vm.mac`), `set-name: eth0`, the host's static addresses with their network's
 *   prefix length, `routes` to the gateway of its first network that has one, and
 *   `nameservers` (the networks' `dns` entries, host names resolved to their addresses; the
 *   inventory's `domain` as search domain).
 * - `cloud-init/HOST/cidata.iso`: the three files in an ISO 9660 image with volume id `cidata`,
 *   Joliet and Rock Ridge, made by genisoimage(1). genisoimage stamps the current time into the
 *   volume descriptors, directory records and Rock Ridge TF entries (it ignores
 *   SOURCE_DATE_EPOCH); {@link normaliseIsoTimes} overwrites all of them with a fixed time, so
 *   the same input gives the same bytes.
 */
import { execFile } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import pLimit from "p-limit";
import { UserError } from "../errors.js";
import type { Host, Inventory } from "../inventory/model.js";
import { sha256Hex } from "./digest.js";
import {
  type Output,
  type RenderContext,
  type RenderedFile,
  type Renderer,
  RenderInterrupted,
  type StagedFile,
} from "./types.js";
import { toJsonYaml, toYaml } from "./yaml.js";

/**
 * Runs `cmd` like promisified execFile (rejecting with `stderr` on the error), except that an
 * abort of `signal` kills the process and settles only once it has exited, so that nothing is
 * still writing into a directory the caller removes next.
 */
function run(cmd: string, args: string[], opts: { timeout: number; signal?: AbortSignal }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeout }, (err, _stdout, stderr) => {
      opts.signal?.removeEventListener("abort", kill);
      if (err) reject(Object.assign(err, { stderr }));
      else resolve();
    });
    const kill = () => child.kill();
    opts.signal?.addEventListener("abort", kill, { once: true });
    if (opts.signal?.aborted) kill();
  });
}
const SECTOR = 2048;
/** The time written into every ISO timestamp: 2000-01-01T00:00:00Z. */
const FIXED_TIME = new Date(Date.UTC(2000, 0, 1));

/**
 * genisoimage ran but failed to build an image (its stderr in the message). Not a mistake in the
 * inventory: `keel render` reports it without a stack trace and exits 1, with nothing written.
 */
export class ImageError extends Error {
  override name = "ImageError";
}

/** The cloud-init instance-id of a VM: `keel-SITE-HOST-INSTANCE`. */
export function instanceId(inv: Inventory, h: Host): string {
  return `keel-${inv.site}-${h.name}-${h.vm!.instance}`;
}

/**
 * The user-data of VM `h`. VMs usually share their users and packages (`defaults.vm`), so the
 * YAML of each distinct document is made once per render: `seen` maps the document's JSON to it.
 */
function userData(h: Host, seen: Map<string, string>): string {
  const vm = h.vm!;
  const doc = {
    users: vm.users.map((u) => ({
      name: u.name,
      shell: "/bin/bash",
      ...(u.sudo ? { sudo: "ALL=(ALL) NOPASSWD:ALL" } : {}),
      ssh_authorized_keys: u.sshAuthorizedKeys,
    })),
    packages: vm.packages,
    package_upgrade: vm.packageUpgrade,
    // the inventory promises SSH offers only publickey (`ssh.key-only`): cloud-init's ssh
    // module then sets PasswordAuthentication no, whatever the image's sshd_config says
    ssh_pwauth: false,
  };
  const key = JSON.stringify(doc);
  let yaml = seen.get(key);
  if (yaml === undefined) {
    yaml = toYaml(doc);
    seen.set(key, yaml);
  }
  return `#cloud-config\n# Rendered by keel render for ${h.name}; edit the inventory, not this file.\n${yaml}`;
}

function metaData(inv: Inventory, h: Host): string {
  return toJsonYaml({ "instance-id": instanceId(inv, h), "local-hostname": h.name });
}

function networkConfig(inv: Inventory, h: Host, hostsByName: ReadonlyMap<string, Host>): string {
  const nets = h.addresses.map((a) => ({ a, n: inv.networks.find((x) => x.name === a.network)! }));
  const addresses = nets.map(({ a, n }) => `${a.address}/${n.cidr.split("/")[1]}`);
  const gw = nets.find(({ n }) => n.gateway);
  const servers: string[] = [];
  for (const { n } of nets)
    for (const d of n.dns) {
      const host = hostsByName.get(d);
      const addr = host
        ? (host.addresses.find((x) => x.network === n.name) ?? host.addresses[0])?.address
        : d;
      if (addr && !servers.includes(addr)) servers.push(addr);
    }
  const eth: Record<string, unknown> = {
    match: { macaddress: h.vm!.mac },
    "set-name": "eth0",
    addresses,
  };
  if (gw) {
    const v6 = gw.n.family === 6;
    eth.routes = [{ to: v6 ? "::/0" : "0.0.0.0/0", via: gw.n.gateway }];
  }
  if (servers.length || inv.domain)
    eth.nameservers = {
      ...(servers.length ? { addresses: servers } : {}),
      ...(inv.domain ? { search: [inv.domain] } : {}),
    };
  return toJsonYaml({ version: 2, ethernets: { eth0: eth } });
}

function isoDate17(d: Date): Buffer {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const text = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(text, "ascii"), Buffer.from([0])]);
}

function isoDate7(d: Date): Buffer {
  return Buffer.from([
    d.getUTCFullYear() - 1900,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  ]);
}

/**
 * Overwrites every timestamp of an ISO 9660 image (ECMA-119) in place with `when`: the
 * creation, modification and effective dates of the primary and supplementary (Joliet) volume
 * descriptors (§8.4.26–8.4.29), the recording date of every directory record (§9.1.5), and the
 * times of Rock Ridge `TF` entries (RRIP 1.12 §4.1.6) in the records' system use areas.
 * @returns one past the offset of the last byte it wrote (bytes from there on are unchanged).
 */
export function normaliseIsoTimes(iso: Buffer, when: Date = FIXED_TIME): number {
  const d17 = isoDate17(when);
  const d7 = isoDate7(when);
  const seen = new Set<number>();
  let end = 0; // one past the last byte written
  const put = (d: Buffer, at: number) => {
    d.copy(iso, at);
    end = Math.max(end, at + d.length);
  };
  const walk = (extent: number, length: number) => {
    if (seen.has(extent)) return;
    seen.add(extent);
    const start = extent * SECTOR;
    let off = start;
    while (off < start + length) {
      const len = iso[off]!;
      if (len === 0) {
        off = (Math.floor((off - start) / SECTOR) + 1) * SECTOR + start;
        continue;
      }
      put(d7, off + 18);
      const nameLen = iso[off + 32]!;
      let su = off + 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
      while (su + 4 <= off + len) {
        const sig = iso.toString("ascii", su, su + 2);
        const l = iso[su + 2]!;
        if (l < 4) break;
        if (sig === "TF") {
          const flags = iso[su + 4]!;
          const size = flags & 0x80 ? 17 : 7;
          let t = su + 5;
          for (let bit = 0; bit < 7; bit++)
            if (flags & (1 << bit)) {
              put(size === 17 ? d17 : d7, t);
              t += size;
            }
        }
        su += l;
      }
      const isDir = (iso[off + 25]! & 2) !== 0;
      const self = nameLen === 1 && (iso[off + 33] === 0 || iso[off + 33] === 1);
      if (isDir && !self) walk(iso.readUInt32LE(off + 2), iso.readUInt32LE(off + 10));
      off += len;
    }
  };
  for (let s = 16; (s + 1) * SECTOR <= iso.length; s++) {
    const vd = s * SECTOR;
    const type = iso[vd]!;
    if (type === 255) break;
    if (type !== 1 && type !== 2) continue;
    for (const at of [813, 830, 864]) put(d17, vd + at);
    const root = vd + 156;
    put(d7, root + 18);
    walk(iso.readUInt32LE(root + 2), iso.readUInt32LE(root + 10));
  }
  return end;
}

/**
 * Builds the `cidata` ISO of the given files with genisoimage(1) (`-volid cidata -joliet -rock
 * -graft-points NAME=FILE…`), with every timestamp fixed (see {@link normaliseIsoTimes}).
 * @throws UserError when genisoimage is missing; ImageError when it fails (its stderr in the message).
 */
export async function cidataIso(files: Record<string, string>, signal?: AbortSignal): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), "keel-cidata-"));
  try {
    const out = path.join(dir, "cidata.iso");
    await cidataIsoTo(files, out, dir, signal);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Builds the `cidata` image as {@link cidataIso} does, into the file `out` (created or replaced),
 * with `work` (an existing directory) holding the staged seed files meanwhile. An abort of
 * `signal` kills genisoimage (the call then rejects with RenderInterrupted).
 * @returns the image's size (bytes) and SHA-256 (hex).
 * @throws as {@link cidataIso}.
 */
export async function cidataIsoTo(
  files: Record<string, string>,
  out: string,
  work: string,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: string }> {
  // The seeds go into `work` as OUT.NAME and into the image as NAME through graft points: no
  // directory per image. Their times do not matter: normaliseIsoTimes overwrites every one.
  const base = path.join(work, path.basename(out));
  const seeds = Object.keys(files).map((name) => [name, `${base}.${name}`] as const);
  try {
    for (const [name, file] of seeds) writeFileSync(file, files[name]!);
    const grafts = seeds.map(([name, file]) => `${name}=${graftEscape(file)}`);
    try {
      await run(
        "genisoimage",
        ["-quiet", "-output", out, "-volid", "cidata", "-joliet", "-rock", "-graft-points", ...grafts],
        { timeout: 30_000, ...(signal ? { signal } : {}) },
      );
    } catch (e) {
      if (signal?.aborted) throw new RenderInterrupted();
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === "ENOENT")
        throw new UserError(
          "genisoimage: not found; expected it on PATH to build cidata.iso (Debian package genisoimage)",
        );
      throw new ImageError(`genisoimage failed: ${(err.stderr ?? err.message).trim()}`);
    }
    const iso = readFileSync(out);
    // the timestamps are all in the descriptors and directories at the start of the image:
    // only that part is written back
    const end = normaliseIsoTimes(iso);
    const fd = openSync(out, "r+");
    try {
      writeSync(fd, iso, 0, end, 0);
    } finally {
      closeSync(fd);
    }
    return { size: iso.length, sha256: sha256Hex(iso) };
  } finally {
    for (const [, file] of seeds) rmSync(file, { force: true });
  }
}

/** The three NoCloud seed files of one VM, by name (`user-data`, `meta-data`, `network-config`). */
export type SeedFiles = Record<"user-data" | "meta-data" | "network-config", string>;

/**
 * The NoCloud seed files of VM `h` (a host with `vm:`), exactly as `keel render` writes them.
 * `hostsByName` resolves the networks' `dns` host names; `userDocs` caches user-data documents
 * shared by several VMs (pass one map per render).
 */
export function seedFiles(
  inv: Inventory,
  h: Host,
  hostsByName: ReadonlyMap<string, Host> = new Map(inv.hosts.map((x) => [x.name, x])),
  userDocs: Map<string, string> = new Map(),
): SeedFiles {
  return {
    "user-data": userData(h, userDocs),
    "meta-data": metaData(inv, h),
    "network-config": networkConfig(inv, h, hostsByName),
  };
}

/** A path as genisoimage's `-graft-points` reads it: `\\` and `=` escaped with a backslash (genisoimage(1)). */
function graftEscape(p: string): string {
  return p.replace(/[\\=]/g, (c) => `\\${c}`);
}

/** genisoimage processes run at once while rendering (the machine's cores, at least 2). */
const ISO_BUILDS = Math.max(2, availableParallelism());

/**
 * The cloud-init renderer: NoCloud seed files and the `cidata` ISO per VM. An image is rebuilt
 * only when one of its three files changed or it is missing from the output directory.
 */
export const cloudInitRenderer: Renderer = {
  kind: "cloud-init",
  async render(inv: Inventory, ctx: RenderContext): Promise<Output[]> {
    const out: Output[] = [];
    const images: Promise<void>[] = [];
    const limit = pLimit(ISO_BUILDS);
    const hostsByName = new Map(inv.hosts.map((h) => [h.name, h]));
    const userDocs = new Map<string, string>();
    let failure: unknown;
    for (const h of inv.hosts) {
      if (!h.vm) continue;
      const files = seedFiles(inv, h, hostsByName, userDocs);
      const dir = `cloud-init/${h.name}`;
      // The image is a pure function of the three files: when an earlier render left the same
      // three and its image, that image is already what genisoimage would build now.
      const iso = `${dir}/cidata.iso`;
      // The manifest's digests answer without reading the three files back; without them
      // (an older manifest), the files on disk do.
      let same = true;
      for (const [name, content] of Object.entries(files)) {
        const p = `${dir}/${name}`;
        const sha256 = sha256Hex(content);
        out.push({ path: p, content, sha256 });
        if (!same) continue;
        const known = ctx.previousDigest?.(p);
        same = known !== undefined ? known === sha256 : ctx.previous(p) === content;
      }
      if (same && ctx.exists?.(iso)) {
        out.push({ path: iso, keep: true });
        continue;
      }
      const stageDir = ctx.stageDir;
      let slot: Output;
      let build: () => Promise<void>;
      if (stageDir !== undefined) {
        // Built into the stage directory, not held in memory (see StagedFile).
        const staged: StagedFile = { path: iso, staged: path.join(stageDir, `${h.name}.iso`), sha256: "" };
        slot = staged;
        build = async () => {
          staged.sha256 = (await cidataIsoTo(files, staged.staged, stageDir, ctx.signal)).sha256;
        };
      } else {
        const inMemory: RenderedFile = { path: iso, content: "" };
        slot = inMemory;
        build = async () => {
          inMemory.content = await cidataIso(files, ctx.signal);
        };
      }
      out.push(slot);
      // After a failure, the images still queued are not built, and the ones running finish
      // before the error is thrown: nothing writes into the stage directory once it is removed.
      images.push(
        limit(async () => {
          if (failure !== undefined || ctx.signal?.aborted) return;
          try {
            await build();
          } catch (e) {
            failure ??= e instanceof ImageError ? new ImageError(`${iso}: ${e.message}`) : e;
          }
        }),
      );
    }
    await Promise.all(images);
    if (ctx.signal?.aborted) throw new RenderInterrupted();
    if (failure !== undefined) throw failure;
    return out;
  },
};
