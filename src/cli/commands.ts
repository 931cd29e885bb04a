/**
 * The list of CLI commands. Adding a command touches its module and this list, nothing else.
 */
import type { Command } from "commander";
import { register as dns } from "./dns.js";
import { registerHistory as history } from "./history.js";
import { register as ipam } from "./ipam.js";
import { register as lab } from "./lab.js";
import { register as render } from "./render.js";
import { register as schema } from "./schema.js";
import { register as serve } from "./serve.js";
import { register as validate } from "./validate.js";
import { registerVerify as verify } from "./verify.js";

/** Registers one command (and its flags) on the root program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [validate, schema, verify, history, serve, lab, render, ipam, dns];
