/**
 * The list of renderers. Adding an artifact kind touches its module, its test and this list.
 */
import { ansibleRenderer } from "./ansible.js";
import { cloudInitRenderer } from "./cloud-init.js";
import { dhcpRenderer } from "./dhcp.js";
import { dnsRenderer } from "./dns.js";
import { nftablesRenderer } from "./nftables.js";
import { prometheusRenderer } from "./prometheus.js";
import type { Renderer } from "./types.js";
import { wireguardRenderer } from "./wireguard.js";

export type * from "./types.js";

/** Every renderer, in the order `keel render` runs them. */
export const renderers: Renderer[] = [
  dnsRenderer,
  dhcpRenderer,
  prometheusRenderer,
  nftablesRenderer,
  wireguardRenderer,
  ansibleRenderer,
  cloudInitRenderer,
];
