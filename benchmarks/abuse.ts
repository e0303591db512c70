/**
 * Abuse benchmark: an attacker of every class beside honest traffic, on loopback, for each of
 * the three servers (docs/security.md names the classes and what each server promises):
 *
 *   credit  malicious friends of a forwarding stnode (benchmarks/abuse/credit.ts)
 *   index   strangers on a stindex client port and a slow federation peer (benchmarks/abuse/index.ts)
 *
 * Each part prints its own JSON lines (per attack class: how much honest traffic got through, at
 * what latency compared with no attack, and the server's memory); the last line is one summary
 * object with every part's summary and whether the targets hold: at least 99% of honest payments,
 * relay connections and route answers succeed while each attack runs, at no more than twice
 * their latency without it, with each server's RSS under its stated bound.
 *
 *   npm run bench:abuse [-- --quick] [-- --parts credit,index]
 */
import { runCreditAbuse } from './abuse/credit.js';
import { runIndexAbuse } from './abuse/index.js';
import { emit } from './network/nodes.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const partsArg = argv.indexOf('--parts');
const parts = new Set((partsArg >= 0 ? argv[partsArg + 1] : 'credit,index').split(','));

const runners: Record<string, (opts: { quick: boolean }) => Promise<Record<string, unknown>>> = {
  credit: runCreditAbuse,
  index: runIndexAbuse,
};

async function main(): Promise<void> {
  const summary: Record<string, unknown> = { benchmark: 'abuse', quick };
  for (const [name, run] of Object.entries(runners)) {
    if (!parts.has(name)) continue;
    const t0 = Date.now();
    summary[name] = await run({ quick });
    summary[`${name}_seconds`] = Math.round((Date.now() - t0) / 1000);
  }
  summary.targets_met = [...parts].every((name) => (summary[name] as { targets_met?: boolean } | undefined)?.targets_met === true);
  emit(summary);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
