import { OffsetError } from '../common/errors.js';

/**
 * An inbound buffer that is not a well-formed instance of the expected message. `path` names
 * where the problem is (`offset.app.Request.body -> offset.app.AddFriend.name`), `problem` what
 * it is; both are also in `message`. Callers match on `code`, never on text.
 */
export class WireError extends OffsetError {
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    super('ERR_WIRE_MALFORMED', path ? `${path}: ${problem}` : problem);
    this.name = 'WireError';
    this.path = path;
    this.problem = problem;
  }
}
