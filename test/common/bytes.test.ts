import t from 'tap';
import fc from 'fast-check';
import { bytesEqual } from '../../src/common/bytes.js';

t.test('bytesEqual agrees with a byte-by-byte comparison on short and long inputs, views included', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 130 }), fc.nat({ max: 129 }), fc.nat({ max: 8 }), (bytes, flipAt, offset) => {
      const padded = new Uint8Array(offset + bytes.byteLength);
      padded.set(bytes, offset);
      const view = padded.subarray(offset);
      if (!bytesEqual(bytes, view)) return false;
      if (bytes.byteLength === 0) return bytesEqual(bytes, new Uint8Array(1)) === false;
      const changed = Uint8Array.from(bytes);
      changed[flipAt % bytes.byteLength] ^= 1;
      return !bytesEqual(bytes, changed) && !bytesEqual(bytes, bytes.subarray(1));
    }),
    { numRuns: 2_000 },
  );
  t.pass('2,000 random inputs');
});

t.test('bytesEqual tells apart inputs that differ only in their last byte at the 64/65-byte boundary', async (t) => {
  for (const n of [63, 64, 65, 200]) {
    const a = new Uint8Array(n).fill(7);
    const b = Uint8Array.from(a);
    t.ok(bytesEqual(a, b), `${n} equal bytes`);
    b[n - 1] = 8;
    t.notOk(bytesEqual(a, b), `${n} bytes, last one differs`);
  }
});
