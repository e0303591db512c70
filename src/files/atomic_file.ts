import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileError, FileErrorCode } from './file_errors.js';

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeTemp(path: string, data: string | Uint8Array, mode: number): string {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

/**
 * Writes a file that must not already exist, atomically: readers see either no file or the
 * whole file, and a crash never leaves a truncated one. link(2) fails if the target exists,
 * so two writers cannot both win, and an existing file is never replaced.
 */
export function writeNewFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  let temp: string;
  try {
    temp = writeTemp(path, data, mode);
  } catch (err) {
    throw new FileError(FileErrorCode.WriteFailed, path, `cannot write: ${(err as Error).message}`, { cause: err });
  }
  try {
    linkSync(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FileError(FileErrorCode.Exists, path, 'already exists; refusing to overwrite');
    throw new FileError(FileErrorCode.WriteFailed, path, `cannot write: ${(err as Error).message}`, { cause: err });
  } finally {
    unlinkSync(temp);
  }
  syncDirectory(dirname(path));
}

/** Writes or replaces a file atomically (temp file, fsync, rename, fsync of the directory). */
export function replaceFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  try {
    const temp = writeTemp(path, data, mode);
    renameSync(temp, path);
    syncDirectory(dirname(path));
  } catch (err) {
    throw new FileError(FileErrorCode.WriteFailed, path, `cannot write: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a whole text file, turning the usual failures into a FileError that names the file. */
export function readTextFile(path: string, maxBytes = 1 << 20): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileError(FileErrorCode.NotFound, path, 'no such file');
    if (code === 'EISDIR') throw new FileError(FileErrorCode.Unreadable, path, 'is a directory, expected a file');
    throw new FileError(FileErrorCode.Unreadable, path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (data.byteLength > maxBytes) throw new FileError(FileErrorCode.Invalid, path, `larger than ${maxBytes} bytes`);
  return data.toString('utf8');
}
