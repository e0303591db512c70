/**
 * A string standing for a byte array (one character per byte, as latin1 decoding gives), to key
 * Maps by public keys, hashes and session ids. The ingest path makes a dozen of these per
 * update; for the 32- and 16-byte shapes one String.fromCharCode call builds the string without
 * the Buffer wrapper and native call of latin1 decoding (about a quarter of its cost).
 */
export function byteTag(b: Uint8Array): string {
  if (b.length === 32) {
    return String.fromCharCode(
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
      b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23], b[24], b[25], b[26], b[27], b[28], b[29], b[30], b[31],
    );
  }
  if (b.length === 16) {
    return String.fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  }
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
