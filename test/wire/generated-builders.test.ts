import t from 'tap';
import * as flatbuffers from 'flatbuffers';
import { layouts } from '../../src/wire/generated/layouts.js';
import { verifyBuffer } from '../../src/wire/verify.js';
import { buildInstance } from '../fuzz/instances.js';

/**
 * For every table of every schema: an instance is read with flatc's generated accessors
 * (object API `unpack`), written again with flatc's generated builders (`pack`), and the
 * verifier must accept what those builders produce; unpacking that output must give the same
 * object again.
 */

type Unpacked = { pack(builder: flatbuffers.Builder): flatbuffers.Offset };
type GeneratedTable = Record<string, (bb: flatbuffers.ByteBuffer) => { unpack(): Unpacked }>;

t.test('the verifier accepts what flatc-generated builders write, for every table', async (t) => {
  const modules = new Map<string, Record<string, unknown>>();
  let checked = 0;
  for (const [name, layout] of Object.entries(layouts.tables)) {
    const parts = name.split('.');
    const className = parts.pop() as string;
    const modulePath = `../../src/wire/generated/${parts.join('/')}.js`;
    let mod = modules.get(modulePath);
    if (!mod) {
      mod = (await import(modulePath)) as Record<string, unknown>;
      modules.set(modulePath, mod);
    }
    const cls = mod[className] as GeneratedTable | undefined;
    if (!cls) {
      t.fail(`no generated class for ${name}`);
      continue;
    }
    const getRoot = cls[`getRootAs${className}`];
    for (let seed = 1; seed <= 8; seed++) {
      const original = buildInstance(layouts, name, seed * 7919, { presence: seed % 2 ? 1 : 0.6 });
      const unpacked = getRoot(new flatbuffers.ByteBuffer(original)).unpack();
      const builder = new flatbuffers.Builder(64);
      builder.finish(unpacked.pack(builder), layout.fileIdentifier);
      const bytes = builder.asUint8Array().slice();
      const error = verifyBuffer(bytes, name as keyof typeof layouts.tables);
      if (error) t.fail(`${name} seed ${seed}: ${error.message}`);
      else t.same(getRoot(new flatbuffers.ByteBuffer(bytes)).unpack(), unpacked, `${name} seed ${seed} unpacks the same`);
      checked++;
    }
  }
  t.ok(checked >= 8 * 100, `${checked} buffers from generated builders verified`);
});
