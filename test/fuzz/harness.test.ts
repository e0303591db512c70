import t from 'tap';
import { checkOne, mutate } from './harness.js';
import { WireError } from '../../src/wire/errors.js';
import { READER_THREW } from '../../src/wire/decode.js';

const stats = () => ({ ok: 0, rejected: 0 });
const bytes = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

t.test('the harness flags every way a decoder can misbehave', async (t) => {
  t.throws(() => checkOne(() => { throw new RangeError('oops'); }, bytes, /^ERR_/, stats()), /decoder threw/);
  t.throws(() => checkOne(() => ({ ok: false, error: new Error('x') as never }), bytes, /^ERR_/, stats()), /without an OffsetError/);
  t.throws(() => checkOne(() => ({ ok: false, error: new WireError('a', 'b') }), bytes, /^ERR_OTHER$/, stats()), /unexpected error code/);
  t.throws(() => checkOne(() => ({ ok: false, error: new WireError('a', `${READER_THREW}: x`) }), bytes, /^ERR_/, stats()), /decoder bug/);
  t.throws(() => checkOne(() => undefined as never, bytes, /^ERR_/, stats()), /no DecodeResult/);
  t.throws(() => checkOne(() => ({ ok: true, value: 1 }), bytes, /^ERR_/, stats(), () => { throw new Error('no'); }), /does not re-encode/);
  t.throws(() => checkOne((b) => ({ ok: true, value: b.length }), bytes, /^ERR_/, stats(), () => new Uint8Array(1)), /changes when re-encoded/);
  const s = stats();
  checkOne(() => ({ ok: false, error: new WireError('a', 'b') }), bytes, /^ERR_/, s);
  checkOne(() => ({ ok: true, value: 1 }), bytes, /^ERR_/, s);
  t.same(s, { ok: 1, rejected: 1 });
});

t.test('mutations change, cut, grow and splice samples deterministically', async (t) => {
  t.same(mutate([bytes], 0, [{ k: 'flip', pos: 9, bit: 0 }]), Uint8Array.of(1, 3, 3, 4, 5, 6, 7, 8));
  t.same(mutate([bytes], 0, [{ k: 'truncate', len: 3 }]), Uint8Array.of(1, 2, 3));
  t.same(mutate([bytes], 0, [{ k: 'extend', bytes: Uint8Array.of(9) }]).length, 9);
  t.same(mutate([bytes], 0, [{ k: 'splice', from: 4, to: 0 }]), Uint8Array.of(5, 6, 7, 8, 5, 6, 7, 8));
  t.same(mutate([bytes], 0, [{ k: 'word', pos: 4, value: 0xffffffff, aligned: true }]), Uint8Array.of(1, 2, 3, 4, 255, 255, 255, 255));
  t.same(mutate([bytes], 0, [{ k: 'nudge', pos: 0, delta: -1 }]), Uint8Array.of(0, 2, 3, 4, 5, 6, 7, 8));
  t.same(mutate([bytes, Uint8Array.of(9, 9)], 0, [{ k: 'cross', other: 1, at: 2, from: 1 }]), Uint8Array.of(1, 2, 9));
  t.same(bytes, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 'samples are never modified');
});
