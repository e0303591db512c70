import t from 'tap';
import { execFileSync } from 'node:child_process';

t.test('committed generated FlatBuffers code matches the schemas', async (t) => {
  const output = execFileSync(process.execPath, ['--import=tsx', 'schemas/codegen.ts', '--check'], { encoding: 'utf8' });
  t.match(output, /generated code is fresh/);
});
