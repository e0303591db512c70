import { z } from 'zod';
import { fromBase64Url, toBase64Url } from '../common/bytes.js';
import { FileError, FileErrorCode } from './file_errors.js';
import { readTextFile, writeNewFileAtomic } from './atomic_file.js';

/**
 * The small JSON files users pass between machines: identities and tickets. Every file carries
 * a `kind` and a `version`, so a relay ticket handed where an identity is expected is refused
 * by name instead of being half-understood. Binary values are base64url without padding.
 */

export const ADDRESS_BYTES_MAX = 256;
export const NODE_RELAYS_MAX = 16;

export function fixedBytes(length: number) {
  return z.string().transform((text, ctx) => {
    const bytes = fromBase64Url(text);
    if (bytes === null || bytes.byteLength !== length) {
      ctx.addIssue({ code: 'custom', message: `must be ${length} bytes in base64url` });
      return z.NEVER;
    }
    return bytes;
  });
}

/** `host:port`, host a name, an IPv4 address or a bracketed IPv6 address. */
export function parseAddress(address: string): { host: string; port: number } | null {
  if (Buffer.byteLength(address, 'utf8') > ADDRESS_BYTES_MAX) return null;
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(address);
  if (match === null) return null;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  const host = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1];
  return { host, port };
}

const addressField = z.string().refine((text) => parseAddress(text) !== null, {
  message: `must be host:port (at most ${ADDRESS_BYTES_MAX} bytes, port 1-65535)`,
});

const publicKeyField = fixedBytes(32);

export const IdentityFileSchema = z.strictObject({ privateKey: fixedBytes(32) });
export const ServerTicketSchema = z.strictObject({ publicKey: publicKeyField, address: addressField });
export const AppTicketSchema = z.strictObject({
  publicKey: publicKeyField,
  permissions: z.strictObject({ routes: z.boolean(), buyer: z.boolean(), seller: z.boolean(), config: z.boolean() }),
});
export const FriendTicketSchema = z.strictObject({
  publicKey: publicKeyField,
  relays: z.array(ServerTicketSchema).max(NODE_RELAYS_MAX),
});

export type IdentityFile = z.output<typeof IdentityFileSchema>;
export type ServerTicket = z.output<typeof ServerTicketSchema>;
export type AppTicket = z.output<typeof AppTicketSchema>;
export type AppPermissions = AppTicket['permissions'];
export type FriendTicket = z.output<typeof FriendTicketSchema>;

export const FileKind = {
  Identity: 'identity',
  RelayTicket: 'relay-ticket',
  IndexTicket: 'index-ticket',
  NodeTicket: 'node-ticket',
  AppTicket: 'app-ticket',
  FriendTicket: 'friend-ticket',
  Invoice: 'invoice',
  Payment: 'payment',
  Commit: 'commit',
  Receipt: 'receipt',
  Token: 'token',
} as const;
export type FileKind = (typeof FileKind)[keyof typeof FileKind];

const kindLabel: Record<string, string> = {
  identity: 'an identity file',
  'relay-ticket': 'a relay ticket',
  'index-ticket': 'an index ticket',
  'node-ticket': 'a node ticket',
  'app-ticket': 'an app ticket',
  'friend-ticket': 'a friend ticket',
  invoice: 'an invoice',
  payment: 'a payment file',
  commit: 'a commit',
  receipt: 'a receipt',
  token: 'a token file',
};

function describeKind(kind: string): string {
  return kindLabel[kind] ?? `a file of unknown kind ${JSON.stringify(kind).slice(0, 40)}`;
}

const FORMAT_VERSION = 1;

const envelope = z.object({ kind: z.string(), version: z.number() }).loose();

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length > 0 ? `field ${issue.path.join('.')}` : 'file';
  return `${path}: ${issue.message}`;
}

/** Parses the text of a file of `kind`; every failure is a FileError naming `path`. */
export function parseFile<S extends z.ZodType>(path: string, text: string, kind: FileKind, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FileError(FileErrorCode.Corrupt, path, `not valid JSON (${(err as Error).message})`);
  }
  const head = envelope.safeParse(json);
  if (!head.success) {
    throw new FileError(FileErrorCode.Corrupt, path, 'not an offset file (expected an object with "kind" and "version")');
  }
  if (head.data.kind !== kind) {
    throw new FileError(FileErrorCode.WrongKind, path, `is ${describeKind(head.data.kind)}, expected ${describeKind(kind)}`);
  }
  if (head.data.version !== FORMAT_VERSION) {
    throw new FileError(FileErrorCode.Invalid, path, `unsupported ${kind} version ${head.data.version} (this program reads version ${FORMAT_VERSION})`);
  }
  const { kind: _kind, version: _version, ...body } = head.data;
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new FileError(FileErrorCode.Invalid, path, describeIssue(parsed.error.issues[0]));
  return parsed.data;
}

export function readFileOfKind<S extends z.ZodType>(path: string, kind: FileKind, schema: S): z.output<S> {
  return parseFile(path, readTextFile(path), kind, schema);
}

/**
 * JSON text for a file: binary values as base64url, big integers as decimal strings (a JSON
 * number loses precision past 2^53), pretty-printed, with kind and version.
 */
export function renderFile(kind: FileKind, body: Record<string, unknown>): string {
  const encode = (_key: string, value: unknown): unknown => {
    if (value instanceof Uint8Array) return toBase64Url(value);
    if (typeof value === 'bigint') return value.toString();
    return value;
  };
  return `${JSON.stringify({ kind, version: FORMAT_VERSION, ...body }, encode, 2)}\n`;
}

export function writeNewFile(path: string, kind: FileKind, body: Record<string, unknown>, mode = 0o644): void {
  writeNewFileAtomic(path, renderFile(kind, body), mode);
}
