import { Piscina } from 'piscina';
import { checkVerifyBatch } from '../src/index/ingest-codec.js';

/**
 * Signature-check worker of the index server (a piscina task function): one VerifyBatch in,
 * one VerifyVerdicts out, both FlatBuffers; the answer's buffer is transferred, not copied.
 */
export default function verifyTask(batch: Uint8Array): unknown {
  const verdicts = checkVerifyBatch(batch);
  return Piscina.move(verdicts);
}
