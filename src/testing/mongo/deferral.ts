/**
 * Thrown by a command that must wait (a write blocked by another session's
 * transaction, an awaitData getMore with nothing new): the dispatcher awaits
 * `until`, then runs the command again from the start. Nothing was changed
 * when it is thrown.
 */
export class Deferral {
  readonly until: Promise<void>;

  constructor(until: Promise<void>) {
    this.until = until;
  }
}
