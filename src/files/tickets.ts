import {
  AppTicketSchema, FileKind, FriendTicketSchema, ServerTicketSchema, readFileOfKind, writeNewFile,
  type AppPermissions, type AppTicket, type FriendTicket, type ServerTicket,
} from './formats.js';

/**
 * Tickets name a public key and how to reach it. Relay and index tickets are what nodes (and, for
 * index servers, federation peers) pin when they dial; node tickets are what apps dial; app
 * tickets are what a node trusts; friend tickets are what friends exchange.
 */
export type ServerTicketKind = typeof FileKind.RelayTicket | typeof FileKind.IndexTicket | typeof FileKind.NodeTicket;

export function readServerTicket(path: string, kind: ServerTicketKind): ServerTicket {
  return readFileOfKind(path, kind, ServerTicketSchema);
}

export function writeServerTicket(path: string, kind: ServerTicketKind, ticket: ServerTicket): void {
  writeNewFile(path, kind, { publicKey: ticket.publicKey, address: ticket.address });
}

export function readAppTicket(path: string): AppTicket {
  return readFileOfKind(path, FileKind.AppTicket, AppTicketSchema);
}

export function writeAppTicket(path: string, publicKey: Uint8Array, permissions: AppPermissions): void {
  writeNewFile(path, FileKind.AppTicket, { publicKey, permissions });
}

export function readFriendTicket(path: string): FriendTicket {
  return readFileOfKind(path, FileKind.FriendTicket, FriendTicketSchema);
}

export function writeFriendTicket(path: string, ticket: FriendTicket): void {
  writeNewFile(path, FileKind.FriendTicket, {
    publicKey: ticket.publicKey,
    relays: ticket.relays.map((relay) => ({ publicKey: relay.publicKey, address: relay.address })),
  });
}
