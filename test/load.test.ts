// `npm run load` must keep working: a short run (2 s, 2 connections) of the real script against
// the real local server, checking what it prints. The figures themselves are in BENCHMARKS.md.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { EXPECTED_5XX, type LoadResult } from '../bench/load';

const ROOT = join(__dirname, '..');

function runLoadScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/load.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run load', () => {
  it('runs briefly, prints throughput, latency, status counts and RSS, and sees no unexpected 5xx', async () => {
    const { code, stdout, stderr } = await runLoadScript(['--duration', '2', '--connections', '2']);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    for (const label of ['throughput ', 'latency ', 'status counts ', 'server RSS ', 'after the load ']) expect(stdout).toContain(label);

    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    const result = JSON.parse(line!.slice('RESULT '.length)) as LoadResult;
    expect(result.requests).toBeGreaterThan(0);
    expect(Object.values(result.statusCounts).reduce((a, b) => a + b, 0)).toBe(result.requests);
    const fiveHundreds = Object.keys(result.statusCounts).map(Number).filter((code) => code >= 500);
    expect(fiveHundreds.filter((status) => !EXPECTED_5XX.includes(status))).toEqual([]);
    expect(result.unexpected5xx).toBe(0);
    expect(result.serverErrorLines).toBe(0);

    // Every kind of URL was sent, the hostile files included, and none was a 5xx alone.
    const kinds = new Set(result.probe.map((p) => p.kind));
    expect([...kinds].sort()).toEqual(['hostile', 'invalid', 'missing', 'valid']);
    const status = (path: string) => result.probe.find((p) => p.path === path)?.status;
    expect(status('/tr:w-100/hostile/bomb.png')).toBe(422);
    expect(status('/tr:w-100/hostile/page.png')).toBe(422);
    expect(status('/hostile/page.png')).toBe(200);
    expect(result.probe.filter((p) => p.kind === 'valid').every((p) => p.status === 200)).toBe(true);
    expect(result.probe.filter((p) => p.kind === 'invalid').every((p) => p.status === 400)).toBe(true);
    expect(result.probe.filter((p) => p.kind === 'missing').every((p) => p.status === 404)).toBe(true);
    expect(result.afterLoad.status).toBe(200);
    if (process.platform === 'linux') expect(result.rssMiB.before).toBeGreaterThan(0);
  }, 120_000);

  it('refuses unknown flags and out-of-range values', async () => {
    const { code, stderr } = await runLoadScript(['--duration', '0']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Unexpected argument --duration[\s\S]*Usage: npm run load/);
  });
});
