/**
 * `ADDRESS:PORT` as URLs, sockets and OpenSSH write it.
 */

/**
 * `address:port`, with an IPv6 address in brackets (RFC 3986 §3.2.2): `[2001:db8::1]:22`.
 * The address is taken as written (no validation).
 */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}
