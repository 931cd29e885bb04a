/**
 * `GET /api/hosts/NAME/machine` (viewer: the machine's power state, managed fields, snapshots and
 * its last action; `machine` null for a host without `vm.hypervisor`) and `POST /api/hosts/NAME/machine` (operator, audited: start, stop, reboot,
 * snapshot, rollback, or for a machine on a Proxmox VE cluster migrate to node `target`, its
 * task's status kept in the action's `progress` while it runs). The actions are `provision/actions.ts`, the code `keel vm` and `keel
 * rollback` run, under the same apply lock and journal, so the single pane and the command line
 * cannot act on one inventory at once.
 *
 * An action takes from seconds (start) to minutes (a rollback waits for the verify gate), so
 * the POST answers 202 as soon as the apply lock is held, and the action's state (`running`,
 * then `done` or `failed` with its message) is read back with the GET, like a Proxmox VE task.
 * One action per host at a time; the last one of each host is kept until the server stops.
 */
import { UserError } from "../../errors.js";
import type { ActionResult } from "../../provision/actions.js";
import { LockHeld } from "../../provision/lock.js";
import { MACHINE_ACTIONS, type MachineAction, ProviderError } from "../../provision/provider.js";
import { errors, ref } from "../schemas.js";
import type { MachineActionState } from "../types.js";
import { type ApiRoutes, HttpError } from "./context.js";

/** The actions' module, loaded on first use (it brings the providers and the verify gate). */
const actions = () => import("../../provision/actions.js");

/** The machine routes. */
export const machinesRoutes: ApiRoutes = async (app, { index, audit, machineActions }) => {
  const last = new Map<string, MachineActionState>();
  let seq = 0;

  /** The host's `vm.hypervisor`, or 404 naming what is missing. */
  const machineHost = (name: string) => {
    const inv = index.inventory();
    const h = inv.hosts.find((x) => x.name === name);
    if (h === undefined) throw new HttpError(404, `no host named "${name}"; GET /api/hosts lists them`);
    if (h.vm?.machine?.hypervisor === undefined)
      throw new HttpError(404, `host "${name}" has no vm.hypervisor: Keel manages no machine for it`);
    return { inv, hypervisor: inv.hypervisors.find((x) => x.name === h.vm!.machine!.hypervisor) };
  };

  app.get<{ Params: { name: string } }>(
    "/api/hosts/:name/machine",
    {
      config: { role: "viewer" },
      schema: {
        summary:
          "One host's machine: power state, managed fields and snapshots as its hypervisor reports them, and its last action",
        params: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        response: {
          200: {
            type: "object",
            properties: {
              machine: {
                anyOf: [ref("MachineStatus"), { type: "null" }],
                description: "null: the host has no vm.hypervisor, Keel manages no machine for it",
              },
              action: { anyOf: [ref("MachineActionState"), { type: "null" }] },
            },
            required: ["machine", "action"],
          },
          ...errors(401, 404),
        },
      },
    },
    async (req) => {
      const inv = index.inventory();
      if (!inv.hosts.some((h) => h.name === req.params.name))
        throw new HttpError(404, `no host named "${req.params.name}"; GET /api/hosts lists them`);
      // the action as it stands before the hypervisor is read: an action shown as ended ended
      // before this status was read, so the two never disagree (a "done" stop beside "running")
      const current = last.get(req.params.name);
      const action = current ? { ...current } : null;
      // null for a host without vm.hypervisor: Keel manages no machine for it
      const machine = (await (await actions()).machineStatus(inv, req.params.name)) ?? null;
      return { machine, action };
    },
  );

  app.post<{ Params: { name: string }; Body: { action: MachineAction; snapshot?: string; target?: string } }>(
    "/api/hosts/:name/machine",
    {
      config: { role: "operator" },
      schema: {
        summary:
          "Start, stop, reboot, snapshot, roll back or migrate one host's machine (operator; audited); 202 once it runs",
        params: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        body: {
          type: "object",
          properties: {
            action: { type: "string", enum: [...MACHINE_ACTIONS] },
            snapshot: {
              type: "string",
              minLength: 1,
              description: "rollback: the snapshot to revert to (default the newest)",
            },
            target: {
              type: "string",
              minLength: 1,
              description: "migrate: the node of the machine's Proxmox VE cluster to move it to",
            },
          },
          required: ["action"],
          additionalProperties: false,
        },
        response: {
          202: {
            type: "object",
            properties: { action: ref("MachineActionState") },
            required: ["action"],
          },
          ...errors(400, 401, 403, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const host = req.params.name;
      const { action, snapshot, target } = req.body;
      const who = req.principal!;
      const base = { who: who.name, role: who.role, action: `machine.${action}`, target: `host ${host}` };
      if (snapshot !== undefined && action !== "rollback")
        throw new HttpError(400, `snapshot: only a rollback takes a snapshot name, not ${action}`);
      if (target !== undefined && action !== "migrate")
        throw new HttpError(400, `target: only a migrate takes a target node, not ${action}`);
      const { inv, hypervisor } = machineHost(host);
      if (action === "migrate") {
        if (hypervisor?.driver !== "proxmox")
          throw new HttpError(
            400,
            `migrate is for machines on a Proxmox VE cluster; host "${host}" is on hypervisor "${hypervisor?.name ?? "?"}" (driver ${hypervisor?.driver ?? "?"})`,
          );
        if (target === undefined) throw new HttpError(400, "target: a migrate needs the node to move to");
      }
      if (last.get(host)?.state === "running")
        throw new HttpError(
          409,
          `${host}: ${last.get(host)!.action} (${last.get(host)!.id}) is still running; wait for it to end`,
        );
      const state: MachineActionState = {
        id: `${host}-${++seq}`,
        host,
        action,
        ...(snapshot !== undefined ? { snapshot } : {}),
        ...(target !== undefined ? { target } : {}),
        who: who.name,
        state: "running",
        message: "waiting for the apply lock",
        startedAt: new Date().toISOString(),
      };
      let started!: () => void;
      const lockHeld = new Promise<void>((resolve) => {
        started = resolve;
      });
      const finish = (r: ActionResult | Error) => {
        const ok = !(r instanceof Error);
        Object.assign(state, {
          state: ok ? "done" : "failed",
          message: r.message,
          finishedAt: new Date().toISOString(),
          ...(ok && r.snapshot !== undefined ? { snapshot: r.snapshot } : {}),
        });
        audit.write({ ...base, result: ok ? `ok: ${r.message}` : `error: ${r.message}` });
      };
      last.set(host, state);
      const { runMachineAction } = await actions();
      const run = runMachineAction(inv, host, action, {
        ...machineActions,
        ...(snapshot !== undefined ? { to: snapshot } : {}),
        ...(target !== undefined ? { target } : {}),
        onProgress: (t) => {
          state.progress = `task ${t.upid ?? "?"}: ${t.status}${t.exitstatus !== undefined ? ` (${t.exitstatus})` : ""}`;
        },
        who: who.name,
        onStarted: () => {
          state.message = "running";
          started();
        },
      });
      // the action goes on after the answer; its end is recorded in `state` and the audit log
      run.then(finish, (e: Error) => finish(e));
      try {
        await Promise.race([lockHeld, run]);
      } catch (e) {
        // it ended before the session opened: the lock is held elsewhere, or could not be taken
        last.delete(host);
        if (e instanceof LockHeld || e instanceof UserError)
          throw new HttpError(409, `${host}: ${action} not started: ${(e as Error).message}`);
        if (e instanceof ProviderError)
          throw new HttpError(409, `${host}: ${action} not started: ${e.message}`);
        throw e;
      }
      audit.write({ ...base, result: `started: ${state.id}` });
      return reply.code(202).send({ action: state });
    },
  );
};
