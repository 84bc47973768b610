// How many renders one process runs at once (`limits.maxConcurrentRenders`): the rest wait in a
// bounded queue, in arrival order, so a burst is served like a fleet of one-request sandboxes
// instead of every render sharing the CPUs and the memory at once.

import { busy } from '../errors';

/** Gives back a slot; call it once the work has really ended, not when its answer was sent. */
export type ReleaseSlot = () => void;

export class RenderSlots {
  private running = 0;
  private readonly waiting: { grant: (release: ReleaseSlot) => void }[] = [];

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
  ) {}

  /** Renders running now, and requests waiting for a slot. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * A slot, at once or when one is free. A full queue is a 503 at once; a request whose signal
   * aborts while it waits (deadline, client gone) leaves the queue with the signal's reason.
   */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    signal?.throwIfAborted();
    if (this.running < this.maxRunning) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(busy(`The server is busy: ${this.running} renders are running and ${this.waiting.length} waiting (limits.maxConcurrentRenders, limits.maxQueuedRenders); try again shortly`));
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter = {
        grant: (release: ReleaseSlot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so `running` never dips and is taken twice.
      if (next) next.grant(this.releaser());
      else this.running--;
    };
  }
}
