// Work that outlives the answer it belongs to (copy on miss): started at once, never awaited by
// the request, never failing it. The Lambda handler waits for it after the response stream has
// ended (a frozen sandbox would otherwise stop it half-way); the local server lets it run.

export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();

  /** Tasks not yet settled. */
  get size(): number {
    return this.pending.size;
  }

  /** Runs a task in the background; its failure is logged with `what`, never thrown. */
  run(what: string, task: () => Promise<void>): void {
    const running: Promise<void> = Promise.resolve()
      .then(task)
      .catch((error: unknown) => {
        const e = error as { name?: string; message?: string };
        console.error(`afterimage: ${what} failed: ${e?.name ?? 'Error'}${e?.message ? `: ${String(e.message).slice(0, 300)}` : ''}`);
      })
      .finally(() => this.pending.delete(running));
    this.pending.add(running);
  }

  /** Resolves when every task (including those started meanwhile) has settled, or after `timeoutMs`: false then. */
  async settled(timeoutMs = Infinity): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    const drained = (async () => {
      while (this.pending.size > 0) await Promise.all([...this.pending]);
      return true as const;
    })();
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
