// Runs `afterimage` as a user does: node on the package's bin shim, in the package directory.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import packageJson from '../../package.json';

const root = join(__dirname, '..', '..');
const BIN = join(root, packageJson.bin.afterimage);

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, collecting what it printed. */
export function runCommand(command: string, args: string[], env: Record<string, string> = {}, cwd = root): Promise<CommandResult> {
  return new Promise((done, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

export function runCli(args: string[], env: Record<string, string> = {}, cwd = root): Promise<CommandResult> {
  return runCommand(process.execPath, [BIN, ...args], { AFTERIMAGE_DEBUG: '', ...env }, cwd);
}
