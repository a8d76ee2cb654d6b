// Run as `bun tests/helpers/dual-packages.ts MODULE…`: imports the modules, then prints (JSON) the
// packages of which both the ESM and the CommonJS build were loaded — the "dual package" case,
// where a package whose exports map has `import` and `require` entries is evaluated twice
// (once for our `import`, once for a dependency's `require`): twice the start-up, twice the heap.
for (const m of process.argv.slice(2)) await import(m);
const flavours = new Map<string, Set<string>>();
for (const path of Object.keys(require.cache)) {
  const [, name, file] = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path) ?? [];
  if (!name || !file) continue;
  const flavour = /\.mjs$|\/esm\//.test(file) ? "esm" : /\.cjs$|\/cjs\//.test(file) ? "cjs" : null;
  if (!flavour) continue;
  if (!flavours.has(name)) flavours.set(name, new Set());
  flavours.get(name)!.add(flavour);
}
console.log(JSON.stringify([...flavours].filter(([, s]) => s.size > 1).map(([name]) => name)));
export {};
