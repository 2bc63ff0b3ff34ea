/**
 * One bound for many waits, checked by one interval timer instead of a
 * `setTimeout`/`clearTimeout` pair per wait: the PostgreSQL hot path's
 * queries (`boundedQuery`) and every Redis command (`applySharedCommandTimeout`)
 * — both one per request on the hot paths, where a timer per call is a
 * measurable share of the call (docs/benchmarks.md prices both).
 *
 * Every wait gets the same bound, so deadlines come in the order the waits are
 * added: each tick (every `ms / 20`, 1 to 50 ms) drops the settled ones from the
 * front and expires the unsettled ones whose deadline has passed, stopping at
 * the first still within its bound — none behind it can have passed theirs. A
 * wait is expired at most one tick late, never early. The timer runs only while
 * waits are outstanding, and never keeps the process alive.
 */
export class DeadlineTicker<T> {
  #items: T[] = [];
  #deadlines: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #tickMs: number;

  /**
   * @param ms the bound of every wait
   * @param isSettled whether a wait has its answer (it is then dropped unexpired)
   * @param expire called once for an unsettled wait whose bound has passed
   */
  constructor(
    readonly ms: number,
    private readonly isSettled: (item: T) => boolean,
    private readonly expire: (item: T) => void,
  ) {
    this.#tickMs = Math.max(1, Math.min(50, Math.floor(ms / 20)));
  }

  /** Starts `item`'s bound now. */
  add(item: T): void {
    this.#items.push(item);
    this.#deadlines.push(performance.now() + this.ms);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#tickMs);
      this.#timer.unref();
    }
  }

  #tick(): void {
    const now = performance.now();
    const items = this.#items;
    let head = this.#head;
    while (head < items.length) {
      const item = items[head]!;
      if (!this.isSettled(item)) {
        if (this.#deadlines[head]! > now) break;
        this.expire(item);
      }
      head += 1;
    }
    if (head === items.length) {
      this.#items = [];
      this.#deadlines = [];
      this.#head = 0;
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else if (head > 4096 && head * 2 > items.length) {
      this.#items = items.slice(head);
      this.#deadlines = this.#deadlines.slice(head);
      this.#head = 0;
    } else {
      this.#head = head;
    }
  }
}
