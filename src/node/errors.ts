import { OffsetError } from '../common/errors.js';

/** Stable codes for failures of the node itself (not of an app request: see app_errors). */
export const NodeErrorCode = {
  DbMissing: 'ERR_NODE_DB_MISSING',
  DbExists: 'ERR_NODE_DB_EXISTS',
  DbCorrupt: 'ERR_NODE_DB_CORRUPT',
  DbLocked: 'ERR_NODE_DB_LOCKED',
  IdentityMismatch: 'ERR_NODE_DB_IDENTITY_MISMATCH',
  Stopped: 'ERR_NODE_STOPPED',
} as const;
export type NodeErrorCode = (typeof NodeErrorCode)[keyof typeof NodeErrorCode];

export class NodeError extends OffsetError {
  constructor(code: NodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'NodeError';
  }
}
