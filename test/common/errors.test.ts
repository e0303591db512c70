import t from 'tap';
import { OffsetError } from '../../src/common/errors.js';

class AlphaError extends OffsetError {}
class BetaError extends OffsetError {}

t.test('instanceof a subclass matches only that subclass; the base matches every offset error', async (t) => {
  const alpha = new AlphaError('ERR_ALPHA', 'alpha');
  t.ok(alpha instanceof AlphaError);
  t.notOk(alpha instanceof BetaError);
  t.ok(alpha instanceof OffsetError);
  t.ok(alpha instanceof Error);
  t.notOk(new Error('plain') instanceof OffsetError);
  t.equal(alpha.code, 'ERR_ALPHA');
});

t.test('the base class recognises an offset error from another copy of the module by its brand', async (t) => {
  const foreign = Object.create(null) as Record<symbol, unknown>;
  foreign[Symbol.for('offset-ts.error')] = true;
  t.ok(foreign instanceof OffsetError);
  t.notOk(foreign instanceof AlphaError);
});
