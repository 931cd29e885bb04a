/**
 * Database URLs in messages: never with their password.
 */

/** The URL without its password, for messages (`postgres://keel:***@db/keel`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  }
}
