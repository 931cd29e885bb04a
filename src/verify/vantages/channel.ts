/**
 * Failed `direct-tcpip` channel opens of the via vantage: sshd's description of its failed
 * `connect(2)` (RFC 4254 §7.2 channel open, §5.1 failure reasons) turned into the port state it
 * proves, or into "the via host has no route".
 */
import { hostPort } from "../../net/hostport.js";
import { type PortState, ProbeError } from "../kind.js";

/** Error of a failed `direct-tcpip` channel open: ssh2 puts the server's description in the message. */
export interface ChannelOpenError extends Error {
  reason?: number;
}

/** A ProbeError that carries the port state it proves, or says the via host has no route. */
export class ChannelProbeError extends ProbeError {
  readonly state: PortState | undefined;
  /** sshd's connect(2) failed with ENETUNREACH: the via host has no route (no port state). */
  readonly noRoute: boolean;
  constructor(message: string, state?: PortState, noRoute = false) {
    super(message);
    this.state = state;
    this.noRoute = noRoute;
  }
}

/** Classifies sshd's channel-open failure text (the errno string of its `connect(2)`). */
export function channelFailure(address: string, port: number, err: ChannelOpenError): ChannelProbeError {
  const msg = err.message;
  const hp = hostPort(address, port);
  if (/connection refused/i.test(msg)) return new ChannelProbeError(`${hp}: connection refused`, "refused");
  const desc = msg.replace(/^\(SSH\) Channel open failure: /, "");
  const text = `${hp}: ${desc}`;
  if (/network is unreachable/i.test(msg))
    return new ChannelProbeError(`${hp} (sshd: "${desc}")`, undefined, true);
  // OpenSSH's sshd says only "open failed" (SSH_OPEN_CONNECT_FAILED, RFC 4254 §5.1) when its
  // connect(2) fails at once, before any packet left: the via host's own routing refused it
  // (ENETUNREACH, an unreachable or prohibit route), which says nothing about the target.
  if (err.reason === 2 && /: open failed$/.test(msg))
    return new ChannelProbeError(
      `${hp} (sshd: "open failed": its connect(2) failed at once)`,
      undefined,
      true,
    );
  if (/no route to host/i.test(msg)) return new ChannelProbeError(text, "unreachable");
  if (/timed out/i.test(msg)) return new ChannelProbeError(`${hp}: connect timed out`, "filtered");
  return new ChannelProbeError(`${hp}: ${msg}`);
}
