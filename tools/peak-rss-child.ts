// Runs one request's image work in a fresh process and reports its peak memory (VmHWM), so a
// test or the bench can hold the cost model to its budget. Started by peak-rss.ts; the job is
// JSON in argv[2], the answer one JSON line on stdout. Linux only (/proc/self).

import { readFileSync, writeFileSync } from 'node:fs';
import { parseConfig } from '../lambda/config';
import { builtInFonts } from '../lambda/image/fonts';
import { chooseFormat } from '../lambda/image/format';
import type { LayerImage } from '../lambda/image/layer-assets';
import { inspectInput, renderImage } from '../lambda/image/pipeline';
import { affordableFormat, estimateCost } from '../lambda/image/cost';
import { buildPlan } from '../lambda/request/plan';
import { parseRequestUrl } from '../lambda/request/parse-url';
import type { PeakRssJob, PeakRssResult } from './peak-rss';

function statusKiB(field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match![1]);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as PeakRssJob;
  const config = parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }], limits: job.limits });
  const bytes = readFileSync(job.inputFile);
  const parsed = parseRequestUrl(config.endpoints, `/tr:${job.chain}/input`, '');
  const plan = buildPlan(parsed, config);
  const input = (await inspectInput(bytes, config.limits))!;
  const wanted = chooseFormat({ explicit: plan.output.format, configured: config.output.format, accept: job.accept, input });
  if (wanted.format === 'svg') throw new Error('SVG inputs are not measured here');
  const wantedFormat = wanted.format;
  const images = new Map<string, LayerImage>();
  for (const [path, file] of Object.entries(job.layerFiles ?? {})) {
    const layerBytes = readFileSync(file);
    images.set(path, { bytes: layerBytes, input: (await inspectInput(layerBytes, config.limits))! });
  }
  const layerAssets = { images, fonts: builtInFonts() };
  const layers = new Map([...images].map(([path, image]) => [path, image.input]));
  const start = process.hrtime.bigint();
  let result: PeakRssResult;
  let estimateMiB: number | undefined;
  // Peak memory from here on: everything before (Node, sharp, the input bytes) is the baseline.
  writeFileSync('/proc/self/clear_refs', '5');
  const baselineKiB = statusKiB('VmRSS');
  try {
    const format = affordableFormat({
      input: { ...input, bytes: bytes.length, layers },
      steps: plan.steps,
      output: plan.output,
      decision: { ...wanted, format: wantedFormat },
      accept: job.accept,
      limits: config.limits,
    });
    estimateMiB = estimateCost({ ...input, bytes: bytes.length, layers }, plan.steps, plan.output, format).memoryMiB;
    const rendered = await renderImage(bytes, input, { steps: plan.steps, output: plan.output, format, defaultQuality: config.output.quality, limits: config.limits, layerAssets });
    result = { status: 200, format, width: rendered.width, height: rendered.height, bytes: rendered.body.length, baselineMiB: 0, peakMiB: 0, ms: 0 };
  } catch (error) {
    const { status, code, message } = error as { status?: number; code?: string; message: string };
    result = { status: status ?? 500, error: `${code ?? 'ERROR'} - ${message}`, baselineMiB: 0, peakMiB: 0, ms: 0 };
  }
  result.ms = Number(process.hrtime.bigint() - start) / 1e6;
  result.baselineMiB = baselineKiB / 1024;
  result.peakMiB = statusKiB('VmHWM') / 1024;
  result.estimateMiB = estimateMiB;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
