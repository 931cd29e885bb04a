/**
 * Asks for an API token (docs/serve.md: every route but /healthz needs one), checks it with
 * `GET /api/overview` and keeps it in sessionStorage for this tab only.
 */
import { type FormEvent, type ReactNode, useState } from "react";
import { ApiError, api, setToken } from "../api.js";

export function TokenPrompt({ reason }: { reason: string | null }): ReactNode {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return;
    setBusy(true);
    setError(null);
    try {
      await api("api/overview", { token });
      setToken(token);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? `token refused: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="token" onSubmit={submit} data-testid="token-prompt">
      <h1>Keel</h1>
      <p className="muted">
        Paste an API token (a <code>serve.tokens</code> entry of the inventory). It stays in this tab only.
      </p>
      {reason ? <p className="error">{reason}</p> : null}
      <input
        type="password"
        autoComplete="off"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        placeholder="token"
        aria-label="API token"
        data-testid="token-input"
      />
      <button type="submit" disabled={busy} data-testid="token-submit">
        {busy ? "checking…" : "Open dashboard"}
      </button>
      {error ? (
        <p className="error" data-testid="token-error">
          {error}
        </p>
      ) : null}
    </form>
  );
}
