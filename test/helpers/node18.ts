/**
 * The bundle must run on Node 18.20 (nodejs-mobile's runtime, docs/mobile.md) while development is on
 * Node 20. esbuild's `--target=node18` lowers syntax, but not the library: this finds, in a bundle's
 * text, the uses of Node APIs that Node 18.20 lacks. The list comes from comparing every export of every
 * built-in module, every global and the members of the global classes between Debian's Node 18.20.4
 * and Node 20.20 (a dump of `Reflect.ownKeys` on both), kept to what a bundle could plausibly use, plus
 * a few later additions a move to Node 22 would bring. test/e2e/node18.test.ts checks the list against
 * the real Node 18 and runs the bundle there.
 */

/** Exports of built-in modules that Node 18.20 does not have (module → names). */
export const NODE18_MISSING_EXPORTS: Readonly<Record<string, readonly string[]>> = {
  console: ['createTask'],
  crypto: ['hash'],
  fs: ['openAsBlob', 'glob', 'globSync'],
  'fs/promises': ['glob'],
  http2: ['performServerHandshake'],
  module: ['enableCompileCache', 'findPackageJSON', 'getCompileCacheDir'],
  path: ['matchesGlob'],
  'path/posix': ['matchesGlob'],
  'path/win32': ['matchesGlob'],
  process: ['availableMemory', 'getBuiltinModule', 'loadEnvFile'],
  stream: ['duplexPair'],
  timers: ['promises'],
  util: ['parseEnv', 'styleText', 'getCallSite', 'getCallSites'],
  v8: ['queryObjects'],
  vm: ['constants'],
  worker_threads: ['postMessageToThread'],
  zlib: ['crc32'],
};

/** Built-in modules a bundle for Node 18 must not import at all. */
export const NODE18_FORBIDDEN_MODULES: readonly string[] = ['inspector/promises', 'sqlite', 'test', 'sea'];

/** Uses of globals, and of members of built-in classes, that Node 18.20 lacks. */
const GLOBAL_USES: readonly { readonly re: RegExp; readonly what: string }[] = [
  { re: /\bimport\.meta\.(dirname|filename)\b/g, what: 'import.meta.dirname/filename (Node 20.11)' },
  { re: /(?<![\w$.])process\.(getBuiltinModule|loadEnvFile|availableMemory)\b/g, what: 'process.getBuiltinModule/loadEnvFile/availableMemory (Node 20.12+)' },
  { re: /(?<![\w$.])URL\.parse\(/g, what: 'URL.parse (Node 22.1)' },
  { re: /(?<![\w$.])ReadableStream\.from\(/g, what: 'ReadableStream.from (Node 20.6)' },
  { re: /(?<![\w$.])console\.createTask\(/g, what: 'console.createTask (Node 20.14)' },
  { re: /\.(toSorted|toReversed|toSpliced|isWellFormed|toWellFormed|getSetCookie|selectRange|formatRangeToParts)\(/g, what: 'an ES2023 or later method Node 18 lacks (toSorted, toReversed, toSpliced, isWellFormed, toWellFormed, getSetCookie, selectRange, formatRangeToParts)' },
  { re: /(?<![\w$.])globalThis\.crypto\b/g, what: 'the global crypto object (Node 19; on Node 18 use node:crypto)' },
  { re: /(?<![\w$.])(Array\.fromAsync|Object\.groupBy|Map\.groupBy|Promise\.withResolvers)\b/g, what: 'Array.fromAsync/Object.groupBy/Map.groupBy/Promise.withResolvers (Node 21+)' },
  { re: /\ballowNegative\s*:/g, what: 'util.parseArgs allowNegative (Node 22.4)' },
  { re: /\bfatal\s*:\s*(?:true|!0)\b/g, what: 'a fatal TextDecoder: ERR_NO_ICU on nodejs-mobile, built without ICU (use src/core/utf8.ts)' },
];

/** Globals of Node ≥ 19 that a bundle may name as free identifiers (no binding of its own). */
const FREE_GLOBALS: readonly { readonly re: RegExp; readonly name: string; readonly what: string }[] = [
  { re: /(?<![\w$.])crypto\.(getRandomValues|randomUUID|subtle)\b/g, name: 'crypto', what: 'the global crypto object (Node 19; on Node 18 use node:crypto)' },
  { re: /\bnew\s+CustomEvent\(/g, name: 'CustomEvent', what: 'the global CustomEvent (Node 19)' },
  { re: /\bnew\s+File\(/g, name: 'File', what: 'the global File (Node 20; node:buffer has it on 18)' },
];

export interface Node18Problem {
  /** 1-based line of the bundle. */
  readonly line: number;
  readonly what: string;
  readonly text: string;
}

/** The import statements of the bundle from built-in modules (esbuild keeps `node:` imports as they are). */
const IMPORT_RE = /^\s*import\s+(?:(?<def>[\w$]+)\s*,?\s*)?(?:\*\s+as\s+(?<ns>[\w$]+)|\{(?<names>[^}]*)\})?\s*from\s*["'](?<spec>[^"']+)["'];?/gm;

/** Whether `name` is declared by the bundle itself (an import, a variable, a function, a class). */
function bound(text: string, name: string): boolean {
  const n = name.replace(/\$/g, '\\$');
  return new RegExp(`(?:\\b(?:var|let|const|function|class)\\s+${n}\\b)|(?:import\\s+(?:\\*\\s+as\\s+)?${n}\\b)|(?:[{,]\\s*(?:[\\w$]+\\s+as\\s+)?${n}\\s*[,}][^;\\n]*\\bfrom\\b)`).test(text);
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * The uses of APIs Node 18.20 lacks in a bundle's text. A named import of one would fail to link; a
 * call through a namespace or default import would throw. Reading such a member without calling it
 * is allowed: that is how code detects the feature and falls back (src/core/hash-once.ts).
 */
export function node18Problems(text: string): Node18Problem[] {
  const problems: Node18Problem[] = [];
  const add = (index: number, what: string, match: string): void => {
    problems.push({ line: lineOf(text, index), what, text: match.trim().slice(0, 160) });
  };
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m.groups?.spec ?? '';
    const mod = spec.startsWith('node:') ? spec.slice(5) : spec;
    if (NODE18_FORBIDDEN_MODULES.includes(mod) && (spec.startsWith('node:') || mod !== 'test')) {
      add(m.index, `node:${mod} is not for a bundle that runs on Node 18`, m[0]);
      continue;
    }
    const missing = NODE18_MISSING_EXPORTS[mod];
    if (missing === undefined) continue;
    for (const part of (m.groups?.names ?? '').split(',')) {
      const imported = part.trim().split(/\s+as\s+/)[0]?.trim() ?? '';
      if (missing.includes(imported)) add(m.index, `${mod}.${imported} does not exist on Node 18.20: the import fails to link`, m[0]);
    }
    for (const local of [m.groups?.def, m.groups?.ns]) {
      if (local === undefined) continue;
      const call = new RegExp(`(?<![\\w$.])${local.replace(/\$/g, '\\$')}\\.(${missing.join('|')})\\s*\\(`, 'g');
      for (const c of text.matchAll(call)) add(c.index, `${mod}.${c[1] ?? ''} does not exist on Node 18.20: the call throws`, c[0]);
    }
  }
  for (const { re, what } of GLOBAL_USES) {
    for (const m of text.matchAll(re)) add(m.index, what, m[0]);
  }
  for (const { re, name, what } of FREE_GLOBALS) {
    if (bound(text, name)) continue;
    for (const m of text.matchAll(re)) add(m.index, what, m[0]);
  }
  return problems.sort((a, b) => a.line - b.line);
}
