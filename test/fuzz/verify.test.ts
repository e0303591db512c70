import t from 'tap';
import { layouts } from '../../src/wire/generated/layouts.js';
import { WireVerifier, verifyBuffer } from '../../src/wire/verify.js';
import { WireError } from '../../src/wire/errors.js';
import { fuzzDecoder } from './harness.js';
import { buildInstance } from './instances.js';
import { walk } from './walk.js';
import { layouts as fixtureLayouts } from '../fixtures/wire/generated/layouts.js';
import type { Layouts } from '../../src/wire/layout.js';

/**
 * The verifier itself under fuzzing: for every table of every schema, generically built valid
 * instances must verify, and random or mutated buffers must yield null or a WireError, never a
 * throw. The fixture root (which exercises every construct) gets the full 100k buffers; each
 * project table a smaller share so the suite stays fast as schemas grow.
 */

/** Verification as a decoder; a verified buffer is then walked by an independent bounds-checked reader. */
function verifierDecoder(verifier: WireVerifier, l: Layouts, table: string) {
  return (bytes: Uint8Array) => {
    const error = verifier.verify(bytes, table);
    if (error !== null) return { ok: false as const, error };
    walk(l, bytes, table);
    return { ok: true as const, value: null };
  };
}

function samplesFor(l: Layouts, table: string, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(buildInstance(l, table, 1000 + i, i === 0 ? { presence: 1, depthMax: 3 } : {}));
  return out;
}

t.test('every generically built instance of every table verifies', async (t) => {
  let count = 0;
  for (const name of Object.keys(layouts.tables)) {
    for (let seed = 1; seed <= 20; seed++) {
      const bytes = buildInstance(layouts, name, seed, { presence: seed % 2 ? 1 : 0.5 });
      const error = verifyBuffer(bytes, name as keyof typeof layouts.tables);
      if (error) t.fail(`${name} seed ${seed}: ${error.message}`);
      count++;
    }
  }
  t.ok(count > 0, `${count} instances verified`);
});

const fixture = new WireVerifier(fixtureLayouts);
fuzzDecoder(t, {
  name: 'verifier on offset.wiretest.Everything',
  decode: verifierDecoder(fixture, fixtureLayouts, 'offset.wiretest.Everything'),
  samples: samplesFor(fixtureLayouts, 'offset.wiretest.Everything', 6),
  runs: 100_000,
  errorCode: /^ERR_WIRE_MALFORMED$/,
});

const project = new WireVerifier(layouts);
const perTableRuns = 3_000;
for (const name of Object.keys(layouts.tables)) {
  fuzzDecoder(t, {
    name: `verifier on ${name}`,
    decode: verifierDecoder(project, layouts, name),
    samples: samplesFor(layouts, name, 3),
    runs: perTableRuns,
    errorCode: /^ERR_WIRE_MALFORMED$/,
  });
}

t.test('WireError is an OffsetError with a stable code', async (t) => {
  const e = new WireError('a.B.c', 'broken');
  t.equal(e.code, 'ERR_WIRE_MALFORMED');
  t.equal(e.message, 'a.B.c: broken');
});
