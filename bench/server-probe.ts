// Preloaded into the afterimage server the bench starts (`node --import tsx --import
// bench/server-probe.ts local/start.ts`): answers the bench over the IPC channel with the
// process's own CPU time (process.cpuUsage) and peak memory, and resets the peak (after a
// garbage collection, with --expose-gc) on request.
// The server's code runs unchanged; nothing is exposed over HTTP.

import { ownStats, resetPeak } from './process-stats';

interface ProbeMessage {
  id: number;
  type: 'stats' | 'reset';
}

if (process.send) {
  process.on('message', (message: ProbeMessage) => {
    if (message.type === 'reset') {
      // Garbage left by the previous cell is collected now, not charged to the next one.
      (globalThis as { gc?: () => void }).gc?.();
      resetPeak('self');
    }
    process.send!({ id: message.id, ...ownStats() });
  });
  // The channel must not keep the server alive once it is told to stop.
  process.channel?.unref();
}
