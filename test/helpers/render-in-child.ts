// Renders one stored file through the real pipeline in a child process and reports the child's
// peak resident memory (VmHWM, Linux): what one render costs, measured where nothing else runs.
// Run as a script by `renderInChild`: tsx render-in-child.ts <file> <format>.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../../lambda/config';
import { inspectInput, renderImage } from '../../lambda/image/pipeline';
import type { ImageFormat } from '../../lambda/image/format';

export interface ChildRender {
  /** 'rendered', or the error message. */
  outcome: string;
  peakKb: number;
}

/** Renders `file` to `format` with the default limits in a fresh Node process. */
export function renderInChild(file: string, format: ImageFormat): Promise<ChildRender> {
  const root = resolve(__dirname, '..', '..');
  const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [__filename, file, format], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code) => {
      const match = /^RESULT (.*)$/m.exec(output);
      if (code !== 0 || !match) reject(new Error(`render child exited with ${code}: ${output}`));
      else resolvePromise(JSON.parse(match[1]) as ChildRender);
    });
  });
}

async function main(file: string, format: ImageFormat): Promise<void> {
  const bytes = readFileSync(file);
  const limits = parseConfig({ origins: [{ name: 'm', type: 's3', bucket: 'b' }] }).limits;
  let outcome = 'rendered';
  try {
    const input = await inspectInput(bytes, limits);
    if (!input) throw new Error('not an image');
    await renderImage(bytes, input, { steps: [], output: {}, format, defaultQuality: 80, limits });
  } catch (error) {
    outcome = (error as Error).message;
  }
  const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  process.stdout.write(`RESULT ${JSON.stringify({ outcome, peakKb })}\n`);
}

if (require.main === module) void main(process.argv[2], process.argv[3] as ImageFormat);
