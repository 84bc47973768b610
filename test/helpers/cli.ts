// Runs `afterimage` as a user does: node on the package's bin shim, in the package directory.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import packageJson from '../../package.json';

const root = join(__dirname, '..', '..');
const BIN = join(root, packageJson.bin.afterimage);

export function runCli(args: string[], env: Record<string, string> = {}, cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, AFTERIMAGE_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
