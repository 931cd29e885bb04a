/** The inventory's validation errors (`GET /api/inventory` → problems), located file:line:col. */
import type { ReactNode } from "react";
import type { Problem } from "../api.js";
import { ProblemList } from "../components.js";
import { useApi, useLive } from "../hooks.js";

export function Problems(): ReactNode {
  const inv = useApi<{ file: string; problems: Problem[] }>("api/inventory");
  useLive((events) => {
    if (events.some((e) => e.type === "reload")) inv.reload();
  });
  if (inv.error) return <p className="error">inventory: {inv.error.message}</p>;
  if (!inv.data) return <p className="muted">loading…</p>;
  return (
    <>
      <h1>Inventory problems</h1>
      <p className="muted">
        <span className="mono">{inv.data.file}</span>:{" "}
        {inv.data.problems.length === 0
          ? "valid."
          : `${inv.data.problems.length} problem(s); keel serve keeps serving the last valid inventory until they are fixed.`}
      </p>
      {inv.data.problems.length > 0 ? <ProblemList problems={inv.data.problems} /> : null}
    </>
  );
}
