// CPU time and peak memory of a benchmark process, read in the process itself (process.cpuUsage,
// /proc/self) or from outside by pid (/proc/<pid>): Linux only, like tools/peak-rss.ts.

import { readFileSync, writeFileSync } from 'node:fs';

export interface ProcessStats {
  /** User + system CPU time since the process started, all threads (libvips' included). */
  cpuMs: number;
  /** Peak resident memory since the last reset (VmHWM). */
  peakKiB: number;
}

function statusKiB(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** Starts VmHWM again from the current RSS (clear_refs 5), so a peak belongs to one measurement. */
export function resetPeak(pid: number | 'self'): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export function ownStats(): ProcessStats {
  const { user, system } = process.cpuUsage();
  return { cpuMs: (user + system) / 1000, peakKiB: statusKiB('self', 'VmHWM') };
}

/** CLK_TCK on Linux: /proc/<pid>/stat counts CPU time in 1/100 s. */
const TICKS_PER_SECOND = 100;

/** Another process's stats (the IPX server, which has no probe of ours). CPU at 10 ms resolution. */
export function statsOf(pid: number): ProcessStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { cpuMs: (ticks * 1000) / TICKS_PER_SECOND, peakKiB: statusKiB(pid, 'VmHWM') };
}
