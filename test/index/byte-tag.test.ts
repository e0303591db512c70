import fc from 'fast-check';
import t from 'tap';
import { byteTag } from '../../src/index/byte-tag.js';

t.test('a byte tag is the latin1 decoding of the bytes, for every length and byte value', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(7), (bytes, shift) => {
      // Also as a view at an offset into a larger buffer.
      const backing = new Uint8Array(bytes.length + shift);
      backing.set(bytes, shift);
      const view = backing.subarray(shift);
      const expected = Buffer.from(bytes).toString('latin1');
      return byteTag(bytes) === expected && byteTag(view) === expected;
    }),
    { numRuns: 5000 },
  );
  for (const length of [16, 32]) t.equal(byteTag(new Uint8Array(length).fill(0xff)), '\xff'.repeat(length), `all 0xff, ${length} bytes`);
});
