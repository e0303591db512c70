import { watch, readdirSync, statSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { toBase64Url } from '../common/bytes.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { AppPermissions } from '../files/formats.js';
import { readAppTicket } from '../files/tickets.js';

/**
 * The --trusted directory: one app ticket per file. Read at start and again whenever the
 * directory changes (fs.watch, debounced, plus a periodic rescan because watch events can be
 * coalesced or lost). A ticket that cannot be read is skipped with its reason logged; the other
 * tickets still count. Two tickets for one key: the later file name wins, and that is logged.
 */

export interface TrustedApp {
  readonly publicKey: Uint8Array;
  readonly permissions: AppPermissions;
  readonly file: string;
}

const TICKET_FILES_MAX = 10_000;

export function scanTrustedDir(dir: string, log: Logger): Map<string, TrustedApp> {
  const out = new Map<string, TrustedApp>();
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    log.error({ dir, err: errorMessage(err) }, 'cannot read the trusted apps directory');
    return out;
  }
  if (names.length > TICKET_FILES_MAX) {
    log.error({ dir, files: names.length }, `more than ${TICKET_FILES_MAX} files in the trusted apps directory; reading the first ${TICKET_FILES_MAX}`);
    names = names.slice(0, TICKET_FILES_MAX);
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const file = join(dir, name);
    try {
      const ticket = readAppTicket(file);
      const id = toBase64Url(ticket.publicKey);
      if (out.has(id)) log.warn({ file, app: id }, 'a second ticket for the same app; this one replaces the earlier one');
      out.set(id, { publicKey: ticket.publicKey, permissions: ticket.permissions, file });
    } catch (err) {
      log.warn({ event: 'ticket-skipped', file, reason: errorMessage(err) }, `skipping app ticket ${file}: ${errorMessage(err)}`);
    }
  }
  return out;
}

export class TrustedApps {
  private apps = new Map<string, TrustedApp>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private interval: NodeJS.Timeout | null = null;
  private scannedMtimeMs = -2;
  private readonly log: Logger;

  constructor(
    private readonly dir: string,
    private readonly onChange: (apps: ReadonlyMap<string, TrustedApp>) => void,
    logger: Logger = silentLogger,
    private readonly rescanMs = 5_000,
  ) {
    this.log = logger;
  }

  start(): void {
    this.rescan();
    try {
      this.watcher = watch(this.dir, () => this.scheduleRescan());
      this.watcher.on('error', (err) => this.log.warn({ err: err.message }, 'watching the trusted apps directory failed'));
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot watch the trusted apps directory; rescanning periodically');
    }
    this.interval = setInterval(() => this.rescan(), this.rescanMs);
    this.interval.unref();
  }

  get(publicKey: Uint8Array): TrustedApp | undefined {
    return this.apps.get(toBase64Url(publicKey));
  }

  get size(): number {
    return this.apps.size;
  }

  /** Rescans when the directory changed since the last scan (a cheap stat otherwise). */
  rescanIfChanged(): void {
    if (this.dirMtimeMs() !== this.scannedMtimeMs) this.rescan();
  }

  private dirMtimeMs(): number {
    try {
      return statSync(this.dir).mtimeMs;
    } catch {
      return -1;
    }
  }

  rescan(): void {
    this.scannedMtimeMs = this.dirMtimeMs();
    const next = scanTrustedDir(this.dir, this.log);
    const same = next.size === this.apps.size && [...next].every(([id, app]) => {
      const prev = this.apps.get(id);
      return prev !== undefined && JSON.stringify(prev.permissions) === JSON.stringify(app.permissions);
    });
    this.apps = next;
    if (!same) {
      this.log.info({ apps: next.size }, 'trusted apps reloaded');
      this.onChange(next);
    }
  }

  private scheduleRescan(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.rescan();
    }, 50);
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.interval !== null) clearInterval(this.interval);
  }
}
