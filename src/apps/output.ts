/**
 * How every app prints a result: human-readable lines by default, or with --json exactly one
 * JSON object on stdout for scripts (big integers as decimal strings, bytes as base64url).
 */
import { toBase64Url } from '../common/bytes.js';

export interface OutputOptions {
  json?: boolean;
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return toBase64Url(value);
  return value;
}

export function emit(options: OutputOptions, human: string | readonly string[], json: Record<string, unknown>): void {
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(json, jsonReplacer)}\n`);
    return;
  }
  const lines = typeof human === 'string' ? [human] : human;
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}
