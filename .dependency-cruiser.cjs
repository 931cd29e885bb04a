/**
 * The layers of src/ (docs/architecture.md), checked by dependency-cruiser in the test suite
 * (`npm run deps`, run by scripts/test.sh): a module may import from its own layer's directory
 * and from the layers below it, never from a layer above or from a sibling of its rank, and no
 * import cycle is allowed anywhere. Type-only imports count.
 */

/** From the bottom: each entry is one rank; names are directories of src/ (or src/NAME.ts). */
const LAYERS = [
  ["net", "errors"],
  ["inventory"],
  ["ipam"],
  ["dns", "pve"],
  ["render", "verify"],
  ["provision"],
  ["store"],
  ["serve", "lab"],
  ["cli"],
];

/** The modules of layer `name`: its directory, or `src/NAME.ts`. */
const at = (name) => `^src/${name}(/|\\.ts$)`;

const rules = [];
LAYERS.forEach((rank, i) => {
  for (const from of rank) {
    const siblings = rank.filter((n) => n !== from);
    for (const to of [...LAYERS.slice(i + 1).flat(), ...siblings]) {
      rules.push({
        name: `${from}-not-to-${to}`,
        comment: `${from} sits ${siblings.includes(to) ? "beside" : "below"} ${to}: it may not import it`,
        severity: "error",
        from: { path: at(from) },
        to: { path: at(to) },
      });
    }
  }
});

module.exports = {
  forbidden: [
    ...rules,
    {
      name: "no-cycles",
      comment: "an import cycle ties modules that should be separable",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    includeOnly: "^src/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
