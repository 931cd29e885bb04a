/**
 * Loads a Keel inventory (`shared/design/inventory.md`, format version 1) into the normalised
 * `Inventory` model. Three passes, each reporting every problem it finds, located at the
 * offending key or value as `file:line:col`:
 *
 * 1. YAML syntax (the `yaml` library, with a LineCounter for positions) and duplicate mapping
 *    keys (detected here on the AST, so the message can say what was duplicated and where the
 *    first one is);
 * 2. the JSON Schema of `schema.ts` (ajv, allErrors), with ajv's instance paths mapped back to
 *    YAML node ranges;
 * 3. cross-reference rules (addresses inside networks, names that must exist, overlaps…), run
 *    on what is left after cutting the parts the schema rejected, so one run reports both kinds.
 *
 * A YAML syntax error stops after pass 1 (there is no document to check).
 *
 * Then defaults are merged in (see `model.ts`).
 */

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { type Problem, UserError } from "../errors.js";
import { isMulticastMac, parseMac } from "../net/mac.js";
import {
  type Address,
  AddressError,
  canonicalAddress,
  contains,
  containsPrefix,
  firstUsable,
  formatPrefix,
  isNetworkOrBroadcast,
  lastUsable,
  overlaps,
  type Prefix,
  parsePrefix,
  tryParseAddress,
} from "../net/prefix.js";
import { checkDns, normaliseDns } from "./dns.js";
import { formatDuration, parseDuration } from "./duration.js";
import { type AddressRequest, type AllocationResult, allocate, type MacRequest } from "./ipam/allocate.js";
import { formatLock, type Lock, lockPathFor, parseLock, readLockText, sameLock } from "./ipam/lock.js";
import type {
  AlertSettings,
  ApiToken,
  CheckSchedule,
  DhcpSettings,
  Host,
  HttpProbe,
  InterfaceAddress,
  Inventory,
  IpamState,
  Network,
  NodeExporterSettings,
  ServeSettings,
  Service,
  ServiceKind,
  SourcePosition,
  SshSettings,
  Vantage,
  VmSettings,
  Webhook,
} from "./model.js";
import type {
  RawAddress,
  RawAlerts,
  RawInventory,
  RawNetwork,
  RawServe,
  RawService,
  RawVm,
  RawVmDefaults,
  Segment,
} from "./raw.js";
import { DEFAULT_FLAPPING, DEFAULT_RETENTION, defaultServeSettings, schedules } from "./serve-settings.js";
import { isValid, type Pruned, pruneToSchema, schemaProblems } from "./validate.js";
import { describe, didYouMean, show } from "./wording.js";
import { fastParse, LazyPositions, type Positions, parseYaml } from "./yaml.js";

export { SUPPORTED_VERSIONS } from "./validate.js";

// ---------------------------------------------------------------------------------------------
// Pass 3: cross-reference rules, then normalisation.

interface Owner {
  what: string;
  /** Where it was declared, as a path: made a position only when a duplicate is reported. */
  at: readonly Segment[];
}

/** One `auto`/`auto@RANGE` address of a host, waiting for allocation. */
interface AutoSlot extends AddressRequest {
  /** Path of the `auto` value, where an exhausted pool is reported. */
  segs: Segment[];
  /** The host's address entry, filled in by allocation. */
  slot: InterfaceAddress;
}

/** Lease time of DHCP when `dhcp.lease` is absent, in seconds (12h). */
export const DEFAULT_LEASE_SECONDS = 43_200;
/** Shortest DHCP lease accepted, in seconds: dnsmasq's minimum, two minutes (dnsmasq(8) --dhcp-range). */
export const MIN_LEASE_SECONDS = 120;

class Checker {
  readonly problems: Problem[] = [];
  readonly prefixes = new Map<string, Prefix>();
  readonly addressOwners = new Map<string, Owner>();
  /** Every static address accepted so far (hosts and vantages), parsed, for allocation. */
  readonly staticAddresses: Address[] = [];
  /** Valid named ranges by network. */
  readonly rangePrefixes = new Map<string, Map<string, Prefix>>();
  /** Valid `reserved` entries by network (addresses as /32 or /128). */
  readonly reservedPrefixes = new Map<string, Prefix[]>();
  /** `auto` addresses asked for, in inventory order. */
  readonly autos: AutoSlot[] = [];
  /** VMs whose `vm.mac` is valid (static, normalised) or auto, in inventory order. */
  readonly vms: MacRequest[] = [];
  /** Result of `allocateAll`. */
  allocation: AllocationResult | undefined;
  /** The lock file's content as read (undefined without a lock file), set with `allocation`. */
  previousLock: Lock | undefined;
  readonly networkNames: string[];
  readonly hostNames: string[];
  readonly vantageNames: string[];
  readonly allowNames: string[];

  constructor(
    readonly raw: RawInventory,
    readonly loc: Positions,
    readonly pruned: Pruned = { paths: new Set(), names: { networks: [], hosts: [], vantages: [] } },
  ) {
    // names cut by pruneToSchema still exist: references to them are not reported
    this.networkNames = [...Object.keys(raw.networks ?? {}), ...pruned.names.networks];
    this.hostNames = [...Object.keys(raw.hosts ?? {}), ...pruned.names.hosts];
    const declared = [...Object.keys(raw.vantages ?? {}), ...pruned.names.vantages];
    this.vantageNames = declared.length > 0 ? declared : ["local"];
    this.allowNames = ["any", ...this.networkNames, ...this.hostNames, ...this.vantageNames];
  }

  problem(segs: readonly Segment[], message: string, which: "key" | "value" = "value"): void {
    this.problems.push({ pos: this.loc.pos(segs, which), message });
  }

  label(segs: readonly Segment[]): string {
    return describe(this.raw, segs);
  }

  checkNetworks(): void {
    const nets = this.raw.networks ?? {};
    const seen: [string, Prefix][] = [];
    for (const [name, net] of Object.entries(nets)) {
      const segs = ["networks", name];
      let p: Prefix;
      try {
        p = parsePrefix(net.cidr);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
        this.problem([...segs, "cidr"], `cidr of network "${name}": ${e.message}`);
        continue;
      }
      this.prefixes.set(name, p);
      for (const [other, q] of seen) {
        if (overlaps(p, q))
          this.problem(
            [...segs, "cidr"],
            `network "${name}" (${formatPrefix(p)}) overlaps network "${other}" (${formatPrefix(q)}); networks must not overlap`,
          );
      }
      seen.push([name, p]);
      if (net.gateway !== undefined) {
        const g = tryParseAddress(net.gateway);
        if (!g)
          this.problem(
            [...segs, "gateway"],
            `gateway ${show(net.gateway)} of network "${name}" is not an IP address; expected an address inside ${formatPrefix(p)}`,
          );
        else if (!contains(p, g))
          this.problem(
            [...segs, "gateway"],
            `gateway ${net.gateway} of network "${name}" is outside the network; expected an address inside ${formatPrefix(p)}`,
          );
      }
      const ranges: [string, Prefix][] = [];
      for (const [rname, rcidr] of Object.entries(net.ranges ?? {})) {
        const rsegs = [...segs, "ranges", rname];
        let r: Prefix;
        try {
          r = parsePrefix(rcidr);
        } catch (e) {
          if (!(e instanceof AddressError)) throw e;
          this.problem(rsegs, `range "${rname}" of network "${name}": ${e.message}`);
          continue;
        }
        if (!containsPrefix(p, r)) {
          this.problem(
            rsegs,
            `range "${rname}" (${formatPrefix(r)}) is outside network "${name}" (${formatPrefix(p)}); expected a prefix inside it`,
          );
          continue;
        }
        for (const [other, q] of ranges) {
          if (overlaps(r, q))
            this.problem(
              rsegs,
              `range "${rname}" (${formatPrefix(r)}) overlaps range "${other}" (${formatPrefix(q)}) of network "${name}"; ranges must not overlap`,
            );
        }
        ranges.push([rname, r]);
      }
      this.rangePrefixes.set(name, new Map(ranges));
      this.checkReserved(name, net, p);
      this.checkDhcp(name, net);
    }
    // dns entries need host names, so they are checked after all networks are known
    for (const [name, net] of Object.entries(nets)) {
      (net.dns ?? []).forEach((entry, i) => {
        if (this.hostNames.includes(entry) || tryParseAddress(entry)) return;
        this.problem(
          ["networks", name, "dns", i],
          `dns entry ${show(entry)} of network "${name}" is neither a host name nor an IP address${didYouMean(entry, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts)"} or an address`,
        );
      });
    }
  }

  /** `reserved` of network `name`: each an address or prefix inside the network. */
  checkReserved(name: string, net: RawNetwork, p: Prefix): void {
    const out: Prefix[] = [];
    (net.reserved ?? []).forEach((entry, i) => {
      const segs = ["networks", name, "reserved", i];
      let r: Prefix | undefined;
      const addr = tryParseAddress(entry);
      if (addr) r = parsePrefix(`${canonicalAddress(addr)}/${addr.kind() === "ipv4" ? 32 : 128}`);
      else if (entry.includes("/")) {
        try {
          r = parsePrefix(entry);
        } catch (e) {
          if (!(e instanceof AddressError)) throw e;
          this.problem(segs, `reserved entry of network "${name}": ${e.message}`);
          return;
        }
      } else {
        this.problem(
          segs,
          `reserved entry ${show(entry)} of network "${name}" is neither an address nor a CIDR prefix; expected e.g. 10.20.0.250 or 10.20.0.240/29 inside ${formatPrefix(p)}`,
        );
        return;
      }
      if (!containsPrefix(p, r)) {
        this.problem(
          segs,
          `reserved entry ${entry} of network "${name}" is outside the network (${formatPrefix(p)}); expected an address or prefix inside it`,
        );
        return;
      }
      out.push(r);
    });
    this.reservedPrefixes.set(name, out);
  }

  /** `dhcp` of network `name`: its range must be a range of the network; a lease of whole seconds, at least 2m. */
  checkDhcp(name: string, net: RawNetwork): void {
    if (!net.dhcp) return;
    const segs = ["networks", name, "dhcp"];
    const rangeNames = Object.keys(net.ranges ?? {});
    if (!rangeNames.includes(net.dhcp.range))
      this.problem(
        [...segs, "range"],
        `dhcp.range "${net.dhcp.range}" of network "${name}" names no range of that network${didYouMean(net.dhcp.range, rangeNames)}; expected one of ${rangeNames.join(", ") || "(the network declares no ranges: add ranges: { NAME: CIDR })"}`,
      );
    if (net.dhcp.lease !== undefined) {
      const ms = parseDuration(net.dhcp.lease);
      if (ms !== undefined && (ms % 1000 !== 0 || ms < MIN_LEASE_SECONDS * 1000))
        this.problem(
          [...segs, "lease"],
          `dhcp.lease ${net.dhcp.lease} of network "${name}" is ${ms % 1000 !== 0 ? "not a whole number of seconds" : "too short"}; expected whole seconds, at least 2m (dnsmasq's minimum)`,
        );
    }
  }

  /** Resolves a host's or vantage's `address` form; reports problems, returns what is valid. */
  resolveAddresses(segs: Segment[], form: RawAddress, owner: string, host?: string): InterfaceAddress[] {
    const out: InterfaceAddress[] = [];
    const add = (network: string, text: string, at: Segment[]) => {
      const addr = tryParseAddress(text);
      if (!addr) {
        this.problem(
          at,
          `address ${show(text)} of ${owner} is not an IP address; expected IPv4 (10.20.0.4) or IPv6 (fd00::4)`,
        );
        return;
      }
      const p = this.prefixes.get(network);
      if (!p) return; // the network's own cidr problem is already reported
      if (!contains(p, addr)) {
        this.problem(
          at,
          `address ${text} of ${owner} is outside network "${network}" (${formatPrefix(p)}); expected an address inside it`,
        );
        return;
      }
      if (isNetworkOrBroadcast(p, addr)) {
        this.problem(
          at,
          `address ${text} of ${owner} is the network or broadcast address of "${network}" (${formatPrefix(p)}); expected one from ${canonicalAddress(firstUsable(p))} to ${canonicalAddress(lastUsable(p))}`,
        );
        return;
      }
      const canon = canonicalAddress(addr);
      const prev = this.addressOwners.get(canon);
      if (prev) {
        this.problem(
          at,
          `address ${canon} of ${owner} is already used by ${prev.what} (line ${this.loc.pos(prev.at).line}); addresses must be unique across the site`,
        );
        return;
      }
      this.addressOwners.set(canon, { what: owner, at });
      this.staticAddresses.push(addr);
      out.push({ network, address: canon });
    };
    const auto = (network: string, text: string, at: Segment[]) => {
      if (host === undefined) {
        this.problem(at, `address ${text} of ${owner}: auto is only for hosts; expected an IP address`);
        return;
      }
      if (!this.prefixes.has(network)) return; // the network's own cidr problem is already reported
      const range = text.startsWith("auto@") ? text.slice(5) : undefined;
      if (range !== undefined) {
        const names = Object.keys(this.raw.networks?.[network]?.ranges ?? {});
        if (!names.includes(range)) {
          this.problem(
            at,
            `address ${text} of ${owner} names no range of network "${network}"${didYouMean(range, names)}; expected auto or auto@RANGE with RANGE one of ${names.join(", ") || "(the network declares no ranges)"}`,
          );
          return;
        }
        if (!this.rangePrefixes.get(network)?.has(range)) return; // the range's own problem is reported
      }
      const slot: InterfaceAddress = { network, address: "", auto: range !== undefined ? { range } : {} };
      this.autos.push({ host, network, ...(range !== undefined ? { range } : {}), segs: at, slot });
      out.push(slot);
    };
    if (typeof form === "string") {
      if (/^auto(@|$)/.test(form)) {
        this.problem(
          segs,
          `address ${form} of ${owner} does not say which network; expected { NETWORK: ${form} }, e.g. { ${this.networkNames[0] ?? "lan"}: ${form} }`,
        );
        return out;
      }
      const addr = tryParseAddress(form);
      if (!addr) {
        add("", form, segs);
        return out;
      }
      const inNets = [...this.prefixes].filter(([, p]) => contains(p, addr)).map(([n]) => n);
      // a network whose cidr is broken might be the one meant: say nothing rather than guess
      const allUsable = this.prefixes.size === this.networkNames.length;
      if (inNets.length === 1) add(inNets[0]!, form, segs);
      else if (inNets.length === 0 && allUsable)
        this.problem(
          segs,
          `address ${form} of ${owner} is in no network; expected an address inside one of ${[...this.prefixes].map(([n, p]) => `${n} (${formatPrefix(p)})`).join(", ") || "the networks (none are declared)"}`,
        );
      else if (inNets.length > 1)
        this.problem(
          segs,
          `address ${form} of ${owner} is in more than one network (${inNets.join(", ")}); write { NETWORK: ${form} } to say which`,
        );
      return out;
    }
    for (const [net, text] of Object.entries(form)) {
      if (!this.networkNames.includes(net)) {
        this.problem(
          [...segs, net],
          `unknown network "${net}" in address of ${owner}${didYouMean(net, this.networkNames)}; expected one of ${this.networkNames.join(", ") || "(no networks are declared)"}`,
          "key",
        );
        continue;
      }
      if (/^auto(@|$)/.test(text)) auto(net, text, [...segs, net]);
      else add(net, text, [...segs, net]);
    }
    return out;
  }

  /** `vm.mac` of every VM: auto, or a unicast MAC used by no other VM. */
  checkVms(): void {
    const seen = new Map<string, { host: string; segs: Segment[] }>();
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      if (!host.vm) continue;
      const text = host.vm.mac ?? "auto";
      if (text === "auto") {
        this.vms.push({ host: name });
        continue;
      }
      const segs = ["hosts", name, "vm", "mac"];
      const mac = parseMac(text);
      if (!mac) continue; // the schema's pattern already reported it
      if (isMulticastMac(mac)) {
        this.problem(
          segs,
          `mac ${text} of host "${name}" is a multicast (group) address: the I/G bit of its first octet is set; expected a unicast MAC (first octet even, e.g. 52:54:00:…) or auto`,
        );
        continue;
      }
      const first = seen.get(mac);
      if (first) {
        this.problem(
          segs,
          `mac ${text} of host "${name}" is already used by host "${first.host}" (line ${this.loc.pos(first.segs).line}); MACs must be unique across the site`,
        );
        continue;
      }
      seen.set(mac, { host: name, segs });
      this.vms.push({ host: name, mac });
    }
  }

  /**
   * Allocates the `auto` addresses and MACs (`src/inventory/ipam/allocate.ts`) against the previous `lock`;
   * an exhausted pool is a problem at the `auto` value.
   */
  allocateAll(site: string, lock: Lock | undefined): void {
    const networks = [...this.prefixes].map(([name, prefix]) => {
      const gw = this.raw.networks?.[name]?.gateway;
      const gateway = gw !== undefined ? tryParseAddress(gw) : undefined;
      return {
        name,
        prefix,
        ...(gateway && contains(prefix, gateway) ? { gateway } : {}),
        ranges: [...(this.rangePrefixes.get(name) ?? [])].map(([rname, p]) => ({ name: rname, prefix: p })),
        reserved: this.reservedPrefixes.get(name) ?? [],
      };
    });
    const result = allocate({
      site,
      networks,
      statics: this.staticAddresses,
      requests: this.autos,
      vms: this.vms,
      ...(lock ? { lock } : {}),
      hosts: this.hostNames,
    });
    for (const ex of result.exhausted) {
      const req = this.autos[ex.index]!;
      this.problem(
        req.segs,
        `address auto${req.range !== undefined ? `@${req.range}` : ""} of host "${req.host}" cannot be allocated: ${ex.pool} is exhausted (all ${ex.size} addresses are used, reserved or excluded); widen it, free an address, or allocate from another range`,
      );
    }
    this.autos.forEach((req, i) => {
      const a = result.addresses[i];
      if (a !== undefined) req.slot.address = a;
    });
    this.allocation = result;
    this.previousLock = lock;
  }

  checkAllow(segs: Segment[], allow: string[] | undefined): void {
    (allow ?? []).forEach((name, i) => {
      if (this.allowNames.includes(name)) return;
      this.problem(
        [...segs, i],
        `${this.label(segs)} names "${name}", which is not a network, host or vantage${didYouMean(name, this.allowNames)}; expected one of ${this.allowNames.join(", ")}`,
      );
    });
  }

  checkHosts(): Map<string, InterfaceAddress[]> {
    const addresses = new Map<string, InterfaceAddress[]>();
    const d = this.raw.defaults ?? {};
    this.checkAllow(["defaults", "ssh", "allow"], d.ssh?.allow);
    this.checkAllow(["defaults", "node_exporter", "allow"], d.node_exporter?.allow);
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      const segs = ["hosts", name];
      addresses.set(name, this.resolveAddresses([...segs, "address"], host.address, `host "${name}"`, name));
      if (host.ssh) this.checkAllow([...segs, "ssh", "allow"], host.ssh.allow);
      if (host.node_exporter) this.checkAllow([...segs, "node_exporter", "allow"], host.node_exporter.allow);
      const serviceLines = new Map<string, Segment[]>(); // first declaration of each name
      (host.services ?? []).forEach((svc, i) => {
        const ss = [...segs, "services", i];
        const first = serviceLines.get(svc.name);
        if (first !== undefined)
          this.problem(
            [...ss, "name"],
            `service name "${svc.name}" is used twice on host "${name}" (first at line ${this.loc.pos(first).line}); service names must be unique per host`,
          );
        else serviceLines.set(svc.name, [...ss, "name"]);
        this.checkAllow([...ss, "allow"], svc.allow);
        if (typeof svc.http === "object" && svc.http.body !== undefined) {
          try {
            new RegExp(svc.http.body);
          } catch (e) {
            this.problem(
              [...ss, "http", "body"],
              `body ${show(svc.http.body)} of ${this.label(ss)} is not a valid regular expression (${(e as Error).message}); expected JavaScript RegExp syntax`,
            );
          }
        }
      });
      (host.listeners?.ignore ?? []).forEach((entry, i) => {
        if (tryParseAddress(entry)) return;
        if (entry.includes("/")) {
          try {
            parsePrefix(entry);
            return;
          } catch (e) {
            if (!(e instanceof AddressError)) throw e;
            this.problem(
              [...segs, "listeners", "ignore", i],
              `listeners.ignore of host "${name}": ${e.message}`,
            );
            return;
          }
        }
        this.problem(
          [...segs, "listeners", "ignore", i],
          `listeners.ignore entry ${show(entry)} of host "${name}" is neither an address nor a CIDR prefix; expected e.g. 127.0.0.0/8 or ::1`,
        );
      });
    }
    return addresses;
  }

  checkWireguard(): void {
    const peerNames = [...this.hostNames, ...Object.keys(this.raw.vantages ?? {})];
    for (const [name, host] of Object.entries(this.raw.hosts ?? {})) {
      (host.wireguard?.peers ?? []).forEach((peer, i) => {
        if (peerNames.includes(peer)) return;
        this.problem(
          ["hosts", name, "wireguard", "peers", i],
          `wireguard peer "${peer}" of host "${name}" is not a host or vantage${didYouMean(peer, peerNames)}; expected one of ${peerNames.join(", ")}`,
        );
      });
    }
  }

  checkVantages(): Map<string, InterfaceAddress[]> {
    const out = new Map<string, InterfaceAddress[]>();
    for (const [name, v] of Object.entries(this.raw.vantages ?? {})) {
      const segs = ["vantages", name];
      if (v.via !== undefined) {
        if (v.local)
          this.problem(
            [...segs, "local"],
            `vantage "${name}" has both local and via; expected either local: true or via: HOST`,
            "key",
          );
        for (const k of ["networks", "host", "address"] as const) {
          if (v[k] !== undefined)
            this.problem(
              [...segs, k],
              `vantage "${name}" uses via, so it sits in the networks and addresses of host "${v.via}"; remove ${k}`,
              "key",
            );
        }
        if (!this.hostNames.includes(v.via))
          this.problem(
            [...segs, "via"],
            `via "${v.via}" of vantage "${name}" is not a host${didYouMean(v.via, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts are declared)"}`,
          );
        continue;
      }
      if (!v.local) {
        if (
          this.pruned.paths.has([...segs, "local"].join("/")) ||
          this.pruned.paths.has([...segs, "via"].join("/"))
        )
          continue; // its local/via value is already reported
        this.problem(segs, `vantage "${name}" needs either local: true or via: HOST`, "key");
        continue;
      }
      if (v.networks !== undefined && v.host !== undefined)
        this.problem(
          [...segs, "host"],
          `vantage "${name}" has both networks and host; expected one of them (host means the networks of that host)`,
          "key",
        );
      (v.networks ?? []).forEach((net, i) => {
        if (this.networkNames.includes(net)) return;
        this.problem(
          [...segs, "networks", i],
          `network "${net}" of vantage "${name}" does not exist${didYouMean(net, this.networkNames)}; expected one of ${this.networkNames.join(", ") || "(no networks are declared)"}`,
        );
      });
      if (v.host !== undefined && !this.hostNames.includes(v.host))
        this.problem(
          [...segs, "host"],
          `host "${v.host}" of vantage "${name}" does not exist${didYouMean(v.host, this.hostNames)}; expected one of ${this.hostNames.join(", ") || "(no hosts are declared)"}`,
        );
      if (v.address !== undefined)
        out.set(name, this.resolveAddresses([...segs, "address"], v.address, `vantage "${name}"`));
    }
    return out;
  }

  /** Rules of `serve:` the schema cannot express: interval floor, flapping, retention order, tokens. */
  checkServe(): void {
    const serve = this.raw.serve;
    if (!serve) return;
    if (serve.listen !== undefined && !parseListen(serve.listen))
      this.problem(
        ["serve", "listen"],
        `serve.listen ${show(serve.listen)} is invalid; expected HOST:PORT with an IP address or host name and a port from 0 to 65535, e.g. 127.0.0.1:8484 or [::1]:8484`,
      );
    for (const [kind, sched] of Object.entries(serve.checks ?? {})) {
      if (sched.interval === undefined) continue;
      const ms = parseDuration(sched.interval);
      if (ms !== undefined && ms < MIN_INTERVAL_MS)
        this.problem(
          ["serve", "checks", kind, "interval"],
          `serve.checks.${kind}.interval ${sched.interval} is too short; expected at least 1s`,
        );
    }
    const f = serve.flapping;
    if (f?.changes !== undefined) {
      const window = f.window ?? DEFAULT_FLAPPING.window;
      if (f.changes >= window)
        this.problem(
          ["serve", "flapping", "changes"],
          `serve.flapping.changes ${f.changes} can never be reached: ${window} results hold at most ${window - 1} changes; expected a number from 1 to ${window - 1}`,
        );
    }
    const r = serve.retention ?? {};
    for (const key of ["raw", "bucket", "max_age"] as const) {
      const text = r[key];
      if (text !== undefined && parseDuration(text) === 0)
        this.problem(
          ["serve", "retention", key],
          `serve.retention.${key} is 0; expected a duration above zero`,
        );
    }
    if (r.max_age !== undefined) {
      const maxAge = parseDuration(r.max_age);
      const raw = r.raw !== undefined ? parseDuration(r.raw) : DEFAULT_RETENTION.rawMs;
      if (maxAge !== undefined && maxAge > 0 && raw !== undefined && maxAge < raw)
        this.problem(
          ["serve", "retention", "max_age"],
          `serve.retention.max_age ${r.max_age} is shorter than raw (${r.raw ?? formatDuration(raw)}); expected at least as long as raw`,
        );
    }
    const names = new Map<string, SourcePosition>();
    (serve.tokens ?? []).forEach((t, i) => {
      const segs = ["serve", "tokens", i];
      const hasHash = t.sha256 !== undefined;
      const hasToken = t.token !== undefined;
      if (hasHash === hasToken)
        this.problem(
          segs,
          `${this.label(segs)} has ${hasHash ? "both sha256 and token" : "neither sha256 nor token"}; expected exactly one: sha256: HEX (the token's SHA-256) or token: \${ENV_VAR}`,
        );
      const first = names.get(t.name);
      if (first !== undefined)
        this.problem(
          [...segs, "name"],
          `API token name "${t.name}" is used twice (first at line ${first.line}); token names must be unique`,
        );
      else names.set(t.name, this.loc.pos([...segs, "name"]));
    });
  }

  /** Rules of `alerts:` the schema cannot express: URLs that parse, unique webhook names. */
  checkAlerts(): void {
    const alerts = this.raw.alerts;
    if (!alerts) return;
    (alerts.alertmanager ?? []).forEach((url, i) => {
      const why = urlProblem(url);
      if (why)
        this.problem(
          ["alerts", "alertmanager", i],
          `alertmanager URL ${why.secret ? `(item ${i + 1})` : show(url)} ${why.message}; expected Alertmanager's base URL such as http://10.20.0.3:9093`,
        );
    });
    const names = new Map<string, SourcePosition>();
    (alerts.webhooks ?? []).forEach((w, i) => {
      const segs = ["alerts", "webhooks", i];
      const why = urlProblem(w.url);
      if (why)
        this.problem(
          [...segs, "url"],
          `url ${why.secret ? "" : `${show(w.url)} `}of ${this.label(segs)} ${why.message}; expected e.g. http://10.20.0.5:8080/hook`,
        );
      const first = names.get(w.name);
      if (first !== undefined)
        this.problem(
          [...segs, "name"],
          `webhook name "${w.name}" is used twice (first at line ${first.line}); webhook names must be unique`,
        );
      else names.set(w.name, this.loc.pos([...segs, "name"]));
    });
  }
}

/** Shortest interval `serve.checks` accepts, in ms. */
export const MIN_INTERVAL_MS = 1000;

/**
 * Splits a listen address `HOST:PORT` (`[IPv6]:PORT` for IPv6) into host and port.
 * @returns undefined when it is not one (no port, port outside 0–65535, bad host).
 */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2]!;
  const hostname =
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  return isIP(host) === 4 || hostname.test(host) ? { host, port } : undefined;
}

/**
 * Why `url` is not a usable http(s) URL for sending alerts, or undefined when it is; `secret`
 * when the URL holds credentials and must not be echoed.
 */
function urlProblem(url: string): { message: string; secret?: true } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { message: "is not a URL" };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return { message: "is not http:// or https://" };
  if (u.hostname === "") return { message: "has no host" };
  if (u.username !== "" || u.password !== "")
    return { message: "holds credentials (user:password@), a literal secret in the inventory", secret: true };
  return undefined;
}

function uniqueNetworks(addrs: InterfaceAddress[]): string[] {
  return [...new Set(addrs.map((a) => a.network))];
}

function normaliseHttp(http: RawService["http"], kind: ServiceKind | undefined): HttpProbe | undefined {
  if (typeof http === "string") return { path: http, expect: 200 };
  if (http)
    return {
      path: http.path,
      expect: http.expect ?? 200,
      ...(http.body !== undefined ? { body: http.body } : {}),
    };
  return kind === "http" ? { path: "/", expect: 200 } : undefined;
}

function normalise(
  raw: RawInventory,
  file: string,
  loc: Positions,
  checker: Checker,
  hostAddresses: Map<string, InterfaceAddress[]>,
  vantageAddresses: Map<string, InterfaceAddress[]>,
): Inventory {
  const d = raw.defaults ?? {};
  const defaultSsh: SshSettings = {
    user: d.ssh?.user ?? "root",
    port: d.ssh?.port ?? 22,
    ...(d.ssh?.identity !== undefined ? { identity: d.ssh.identity } : {}),
    allow: [...(d.ssh?.allow ?? ["any"])],
  };
  const defaultNodeExporter: NodeExporterSettings = {
    port: d.node_exporter?.port ?? 9100,
    allow: [...(d.node_exporter?.allow ?? ["any"])],
  };

  const networks: Network[] = Object.entries(raw.networks ?? {}).map(([name, net]) => {
    const p = checker.prefixes.get(name)!;
    return {
      name,
      cidr: formatPrefix(p),
      family: p.family,
      ...(net.gateway !== undefined ? { gateway: canonicalAddress(net.gateway) } : {}),
      dns: [...(net.dns ?? [])],
      ranges: Object.entries(net.ranges ?? {}).map(([rname, cidr]) => ({
        name: rname,
        cidr: formatPrefix(parsePrefix(cidr)),
      })),
      reserved: (net.reserved ?? []).map((r) =>
        r.includes("/") ? formatPrefix(parsePrefix(r)) : canonicalAddress(r),
      ),
      ...(net.dhcp ? { dhcp: normaliseDhcp(net.dhcp) } : {}),
      pos: loc.pos(["networks", name], "key"),
    };
  });
  const allocation = checker.allocation!;
  const macOf = new Map(checker.vms.map((vm, i) => [vm.host, allocation.macs[i]!]));

  const hosts: Host[] = Object.entries(raw.hosts ?? {}).map(([name, h]) => {
    const segs = ["hosts", name];
    const tags = [...(h.tags ?? [])];
    const ssh: SshSettings | undefined =
      h.ssh === false
        ? undefined
        : {
            user: h.ssh?.user ?? defaultSsh.user,
            port: h.ssh?.port ?? defaultSsh.port,
            ...((h.ssh?.identity ?? defaultSsh.identity) !== undefined
              ? { identity: (h.ssh?.identity ?? defaultSsh.identity)! }
              : {}),
            allow: [...(h.ssh?.allow ?? defaultSsh.allow)],
          };
    const nodeExporter: NodeExporterSettings | undefined =
      h.node_exporter === false
        ? undefined
        : h.node_exporter !== undefined || tags.includes("monitored")
          ? {
              port: h.node_exporter?.port ?? defaultNodeExporter.port,
              allow: [...(h.node_exporter?.allow ?? defaultNodeExporter.allow)],
            }
          : undefined;
    const services: Service[] = (h.services ?? []).map((s, i) => {
      const [portText, proto] = String(s.port).split("/");
      const http = normaliseHttp(s.http, s.kind);
      return {
        name: s.name,
        ...(s.kind !== undefined ? { kind: s.kind } : {}),
        port: Number(portText),
        protocol: proto === "udp" ? "udp" : "tcp",
        allow: [...(s.allow ?? ["any"])],
        ...(http ? { http } : {}),
        ...(s.dns !== undefined ? { dns: s.dns } : {}),
        fromDefaults: false,
        pos: loc.pos([...segs, "services", i]),
      };
    });
    const declared = new Set(services.map((s) => s.name));
    const hostPos = loc.pos(segs, "key"); // also where implied services point
    const defaultPos = (key: string, defaultKey: string): SourcePosition =>
      (h as unknown as Record<string, unknown>)[key] !== undefined
        ? loc.pos([...segs, key], "key")
        : (d as Record<string, unknown>)[defaultKey] !== undefined
          ? loc.pos(["defaults", defaultKey], "key")
          : hostPos;
    if (ssh && !declared.has("ssh"))
      services.push({
        name: "ssh",
        kind: "ssh",
        port: ssh.port,
        protocol: "tcp",
        allow: [...ssh.allow],
        fromDefaults: true,
        pos: defaultPos("ssh", "ssh"),
      });
    if (nodeExporter && !declared.has("node_exporter"))
      services.push({
        name: "node_exporter",
        kind: "node_exporter",
        port: nodeExporter.port,
        protocol: "tcp",
        allow: [...nodeExporter.allow],
        fromDefaults: true,
        pos: defaultPos("node_exporter", "node_exporter"),
      });
    return {
      name,
      addresses: hostAddresses.get(name) ?? [],
      tags,
      sysctl: Object.fromEntries(Object.entries(h.sysctl ?? {}).map(([k, v]) => [k, String(v)])),
      ...(h.wireguard
        ? {
            wireguard: {
              interface: h.wireguard.interface,
              ...(h.wireguard.port !== undefined ? { port: h.wireguard.port } : {}),
              peers: [...(h.wireguard.peers ?? [])],
            },
          }
        : {}),
      services,
      ...(ssh ? { ssh } : {}),
      listenersIgnore: [...(h.listeners?.ignore ?? [])],
      ...(h.vm ? { vm: normaliseVm(h.vm, d.vm, macOf.get(name)!, loc.pos([...segs, "vm"], "key")) } : {}),
      pos: hostPos,
    };
  });

  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  let vantages: Vantage[] = Object.entries(raw.vantages ?? {}).map(([name, v]) => {
    const pos = loc.pos(["vantages", name], "key");
    if (v.via !== undefined) {
      const h = hostByName.get(v.via)!;
      return {
        name,
        type: "via",
        via: v.via,
        networks: uniqueNetworks(h.addresses),
        addresses: h.addresses.map((a) => ({ ...a })),
        implicit: false,
        pos,
      };
    }
    const networks =
      v.host !== undefined ? uniqueNetworks(hostByName.get(v.host)!.addresses) : [...(v.networks ?? [])];
    return {
      name,
      type: "local",
      ...(v.host !== undefined ? { host: v.host } : {}),
      networks,
      addresses: vantageAddresses.get(name) ?? [],
      implicit: false,
      pos,
    };
  });
  if (vantages.length === 0)
    vantages = [
      {
        name: "local",
        type: "local",
        networks: [],
        addresses: [],
        implicit: true,
        pos: { file, line: 1, col: 1 },
      },
    ];

  return {
    file,
    dir: dirname(resolve(file)),
    version: 1,
    site: raw.site,
    ...(raw.domain !== undefined ? { domain: raw.domain } : {}),
    ...(raw.dns !== undefined ? { dns: normaliseDns(raw.dns, (segs) => loc.pos(segs)) } : {}),
    networks,
    defaults: {
      ssh: defaultSsh,
      nodeExporter: defaultNodeExporter,
      knownHosts: resolveIdentityPath(
        { dir: dirname(resolve(file)) },
        d.ssh?.known_hosts ?? join(".keel", "known_hosts"),
      ),
      hostKeyChecking: d.ssh?.host_key_checking ?? "accept-new",
    },
    hosts,
    vantages,
    serve: normaliseServe(raw.serve, loc),
    alerts: normaliseAlerts(raw.alerts, loc),
    ipam: ipamState(file, allocation, checker.previousLock),
  };
}

function normaliseDhcp(dhcp: NonNullable<RawNetwork["dhcp"]>): DhcpSettings {
  return {
    range: dhcp.range,
    leaseSeconds: dhcp.lease !== undefined ? parseDuration(dhcp.lease)! / 1000 : DEFAULT_LEASE_SECONDS,
  };
}

/** A host's `vm:` over `defaults.vm` (each list replaces the default's, it does not append). */
function normaliseVm(vm: RawVm, d: RawVmDefaults | undefined, mac: string, pos: SourcePosition): VmSettings {
  const users = vm.users ?? d?.users ?? [];
  return {
    mac,
    macAllocated: (vm.mac ?? "auto") === "auto",
    instance: vm.instance ?? 1,
    users: users.map((u) => ({
      name: u.name,
      sshAuthorizedKeys: [...(u.ssh_authorized_keys ?? [])],
      sudo: u.sudo ?? false,
    })),
    packages: [...(vm.packages ?? d?.packages ?? [])],
    packageUpgrade: vm.package_upgrade ?? d?.package_upgrade ?? false,
    pos,
  };
}

/**
 * The lock file's new content and whether it changed. No lock file is created for an inventory
 * that allocates nothing; an existing one is kept (emptied) rather than deleted. Whether it
 * changed is decided on the content (`sameLock`), and the text (`lock`) is formatted only when
 * asked for, by the commands that write it: formatting 20,000 entries with `yaml` took longer
 * than loading the inventory, and every command loads it.
 */
function ipamState(file: string, allocation: AllocationResult, previous: Lock | undefined): IpamState {
  const empty =
    Object.keys(allocation.lock.addresses).length === 0 && Object.keys(allocation.lock.macs).length === 0;
  const needed = !(empty && previous === undefined);
  const state: IpamState = {
    lockFile: lockPathFor(file),
    lockChanged: needed && (previous === undefined || !sameLock(previous, allocation.lock)),
    changes: allocation.changes,
  };
  if (needed) {
    let text: string | undefined;
    Object.defineProperty(state, "lock", {
      get: () => (text ??= formatLock(allocation.lock)),
      enumerable: true,
    });
  }
  return state;
}

/** Durations that passed the schema parse; `fallback` when absent. */
function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : parseDuration(text)!;
}

function normaliseServe(raw: RawServe | undefined, loc: Positions): ServeSettings {
  const d = defaultServeSettings();
  if (!raw) return d;
  const declared: Record<string, Partial<CheckSchedule>> = {};
  for (const [kind, sched] of Object.entries(raw.checks ?? {})) {
    const p: Partial<CheckSchedule> = {};
    if (sched.interval !== undefined) p.intervalMs = parseDuration(sched.interval)!;
    if (sched.fail_after !== undefined) p.failAfter = sched.fail_after;
    if (sched.recover_after !== undefined) p.recoverAfter = sched.recover_after;
    declared[kind] = p;
  }
  const r = raw.retention ?? {};
  return {
    listen: raw.listen ?? d.listen,
    checks: schedules(declared),
    flapping: { ...d.flapping, ...raw.flapping },
    retention: {
      rawMs: ms(r.raw, d.retention.rawMs),
      bucketMs: ms(r.bucket, d.retention.bucketMs),
      maxAgeMs: ms(r.max_age, d.retention.maxAgeMs),
      perCheck: r.per_check ?? d.retention.perCheck,
    },
    tokens: (raw.tokens ?? []).map(
      (t, i): ApiToken => ({
        name: t.name,
        role: t.role,
        ...(t.sha256 !== undefined ? { sha256: t.sha256.toLowerCase() } : {}),
        ...(t.token !== undefined ? { env: t.token.slice(2, -1) } : {}),
        pos: loc.pos(["serve", "tokens", i]),
      }),
    ),
  };
}

function normaliseAlerts(raw: RawAlerts | undefined, loc: Positions): AlertSettings {
  return {
    alertmanagers: (raw?.alertmanager ?? []).map((u) => u.replace(/\/+$/, "")),
    webhooks: (raw?.webhooks ?? []).map(
      (w, i): Webhook => ({
        name: w.name,
        url: w.url,
        headers: { ...w.headers },
        pos: loc.pos(["alerts", "webhooks", i]),
      }),
    ),
  };
}

function byPosition(a: Problem, b: Problem): number {
  return (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0);
}

/**
 * Parses and validates inventory text (YAML, format version 1) and returns the normalised model.
 * `file` is used in positions and stored as `Inventory.file`; `Inventory.dir` is its absolute
 * directory (resolved against the current working directory).
 * @throws UserError listing every problem found, each located `file:line:col`, sorted by position.
 */
export function parseInventory(text: string, file: string, options: ParseOptions = {}): Inventory {
  const lock = lockOf(file, options);
  // Fast path: a valid inventory, read by js-yaml, positions resolved only if asked for.
  const data = fastParse(text);
  if (data !== undefined && isValid(data)) {
    const raw = data as RawInventory;
    const loc = new LazyPositions(file, text);
    const checker = new Checker(raw, loc);
    const checked = checkAll(checker, lock);
    if (checker.problems.length === 0)
      return normalise(raw, file, loc, checker, checked.hostAddresses, checked.vantageAddresses);
  }
  // Slow path: `yaml` with positions, every problem reported and located.
  return parseLocated(text, file, options);
}

/** Options of `parseInventory`. */
export interface ParseOptions {
  /**
   * The text of `keel.lock` beside the inventory (`loadInventory` reads it); undefined when there
   * is none: everything is allocated afresh.
   */
  lockText?: string;
}

/** The parsed lock of `options`. @throws UserError located in keel.lock when it is malformed. */
function lockOf(file: string, options: ParseOptions): Lock | undefined {
  return options.lockText === undefined ? undefined : parseLock(options.lockText, lockPathFor(file));
}

function checkAll(checker: Checker, lock: Lock | undefined) {
  checker.checkNetworks();
  const hostAddresses = checker.checkHosts();
  checker.checkVms();
  checker.checkWireguard();
  const vantageAddresses = checker.checkVantages();
  checker.checkServe();
  checker.checkAlerts();
  checkDns(checker.raw, checker.hostNames, (segs, message) => checker.problem(segs, message));
  checker.allocateAll(checker.raw.site, lock);
  return { hostAddresses, vantageAddresses };
}

/** `parseInventory` on `yaml` alone, with positions throughout. Exported for the tests that compare both paths. */
export function parseLocated(text: string, file: string, options: ParseOptions = {}): Inventory {
  const lock = lockOf(file, options);
  const { data, loc, problems } = parseYaml(text, file);
  if (problems.length > 0 && data === undefined) throw new UserError(problems.sort(byPosition));
  const schema = schemaProblems(data, loc);
  problems.push(...schema);
  let raw = data as RawInventory;
  let pruned: Pruned | undefined;
  if (schema.length > 0) {
    const rest = pruneToSchema(data);
    if (!rest) throw new UserError(problems.sort(byPosition));
    ({ raw, pruned } = rest);
  }
  const checker = new Checker(raw, loc, pruned);
  const { hostAddresses, vantageAddresses } = checkAll(checker, lock);
  problems.push(...checker.problems);
  if (problems.length > 0) throw new UserError(problems.sort(byPosition));
  return normalise(raw, file, loc, checker, hostAddresses, vantageAddresses);
}

/**
 * Reads and loads the inventory file at `file` (a path, relative to the current directory or
 * absolute). See `parseInventory`.
 * @throws UserError naming the file when it cannot be read (missing, a directory, no
 *   permission), or listing every problem in it.
 */
export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (e as Error).message;
    throw new UserError(`${file}: cannot read the inventory: ${why}`);
  }
  const lockText = readLockText(lockPathFor(file));
  return parseInventory(text, file, lockText !== undefined ? { lockText } : {});
}

/**
 * Resolves an SSH identity path as written in the inventory: `~` and `~/…` against the user's
 * home directory, relative paths against the inventory's directory (`inv.dir`); absolute paths
 * are returned unchanged.
 */
export function resolveIdentityPath(inv: Pick<Inventory, "dir">, identity: string): string {
  if (identity === "~") return homedir();
  if (identity.startsWith("~/")) return resolve(homedir(), identity.slice(2));
  return isAbsolute(identity) ? identity : resolve(inv.dir, identity);
}
