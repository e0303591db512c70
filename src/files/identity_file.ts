import { Identity } from '../crypto/identity.js';
import { FileKind, IdentityFileSchema, readFileOfKind, writeNewFile } from './formats.js';

/** Loads an identity file; throws a FileError naming the file on any problem. */
export function loadIdentityFile(path: string): Identity {
  const { privateKey } = readFileOfKind(path, FileKind.Identity, IdentityFileSchema);
  return Identity.fromSeed(privateKey);
}

/** Writes a new identity file readable only by its owner; refuses to overwrite. */
export function writeIdentityFile(path: string, identity: Identity): void {
  writeNewFile(path, FileKind.Identity, { privateKey: identity.seed }, 0o600);
}
