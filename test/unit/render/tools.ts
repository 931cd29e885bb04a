/** Runs the real DNS/DHCP tools on rendered files (bind9-utils, dnsmasq-base, kea-dhcp4-server). */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { RenderedFile } from "../../../src/render/types.js";

/** Runs `cmd args`; returns its exit status and combined output. */
export function tool(cmd: string, args: string[]): { status: number; output: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** Asserts that `cmd args` exits 0, showing its output otherwise. */
export function accepts(cmd: string, args: string[]): string {
  const r = tool(cmd, args);
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} rejected it:\n${r.output}`);
  return r.output;
}

/** Writes rendered files under `dir`. */
export function writeFiles(dir: string, files: RenderedFile[]): void {
  for (const f of files) {
    const p = join(dir, ...f.path.split("/"));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
  }
}

/** The text of the rendered file at `path`. */
export function text(files: RenderedFile[], path: string): string {
  const f = files.find((x) => x.path === path);
  assert.ok(f, `no ${path} among ${files.map((x) => x.path).join(", ")}`);
  return String(f.content);
}
