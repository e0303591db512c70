import { OffsetError } from '../common/errors.js';

/**
 * Every problem with a file the user hands us names the file and the problem in one line,
 * with a stable code a script can match on.
 */
export const FileErrorCode = {
  NotFound: 'ERR_FILE_NOT_FOUND',
  Unreadable: 'ERR_FILE_UNREADABLE',
  Corrupt: 'ERR_FILE_CORRUPT',
  WrongKind: 'ERR_FILE_WRONG_KIND',
  Invalid: 'ERR_FILE_INVALID',
  Exists: 'ERR_FILE_EXISTS',
  WriteFailed: 'ERR_FILE_WRITE_FAILED',
} as const;

export type FileErrorCode = (typeof FileErrorCode)[keyof typeof FileErrorCode];

export class FileError extends OffsetError {
  readonly path: string;
  constructor(code: FileErrorCode, path: string, problem: string, options?: { cause?: unknown }) {
    super(code, `${path}: ${problem}`, options);
    this.name = 'FileError';
    this.path = path;
  }
}
