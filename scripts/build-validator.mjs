// Writes dist/inventory/inventory-validator.cjs: the inventory's JSON Schema compiled by ajv's
// standalone mode (https://ajv.js.org/standalone.html), so `keel` does not compile the schema at
// every start. Run by `npm run build` after tsc; the loader falls back to compiling at run time
// when the file is absent (running from source).
import { writeFileSync } from "node:fs";
import { Ajv } from "ajv";
import standaloneCode from "ajv/dist/standalone/index.js";
import { inventorySchema } from "../dist/inventory/schema.js";

const ajv = new Ajv({ allowUnionTypes: true, code: { source: true } });
const validate = ajv.compile(inventorySchema);
writeFileSync(
  new URL("../dist/inventory/inventory-validator.cjs", import.meta.url),
  standaloneCode.default(ajv, validate),
);
