// `npm run bench:gc`: what Node's flags (lambda/node-flags.ts: `--single-threaded-gc`) change
// for one render. Four processes read the originals from one local S3 server (in this process):
// afterimage's ImageService called in-process (the cache of originals off) and limit+S3 (the
// SDK's GetObject, then sharp with afterimage's settings, bench/workloads.ts), each once with
// Node's default flags and once with NODE_FLAGS. Rounds are interleaved (each round runs the four
// one after another, in a rotated order), one image at a time. Per process and workload: the
// median over the rounds of the wall time per image, the CPU time per image, and that CPU time
// split by thread (from /proc/self/task: the main thread, libvips's threads, and Node's other
// threads, the libuv pool and V8's helpers among them). BENCH_GC_ROUNDS (default 10).

import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { NODE_FLAGS } from '../lambda/node-flags';
import { ImageService } from '../lambda/service/image-service';
import { EMBEDDED_KEYS } from '../local/embedded-s3';
import { cameraJpeg, cutoutPng, uploadJpeg } from './images';
import { countsSince, startCountedS3 } from './s3-server';
import { afterimageConfig, ASSET_PATH, BACKUP_FOLDER, BUCKET, CAMERA_KEY, CUTOUT_KEY, FIRST_VERSION, renderDirect, VERSIONS, WORKLOADS } from './workloads';

const ROUNDS = Math.max(2, Number(process.env.BENCH_GC_ROUNDS ?? 10));
const WORKLOAD_IDS = ['thumb', 'png', 'cloudinary'];
/** Images per cell: about a second of work. */
const IMAGES: Record<string, number> = { thumb: 15, png: 5, cloudinary: 15 };

type Mode = 'afterimage' | 'limit+S3';
interface CellFigures {
  wallMs: number;
  cpuMs: number;
  threads: { main: number; libvips: number; other: number };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** CPU time of each of this process's threads so far, in ms, by kind (schedstat's first field: ns on a CPU). */
function threadTimes(): CellFigures['threads'] {
  const times = { main: 0, libvips: 0, other: 0 };
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const ms = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      if (tid === String(process.pid)) times.main += ms;
      else if (name.startsWith('libvips')) times.libvips += ms;
      else times.other += ms;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return times;
}

async function child(mode: Mode, endpoint: string): Promise<void> {
  sharp.cache(false);
  sharp.concurrency(0);
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { ...EMBEDDED_KEYS }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const service = new ImageService(parseConfig(afterimageConfig(endpoint, { originalCacheMB: 0 })));
  const one = async (workload: string) => {
    const request = WORKLOADS.find((w) => w.id === workload)!.requests[0];
    if (mode === 'limit+S3') {
      const output = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: request.key }));
      const bytes = await output.Body!.transformToByteArray();
      await renderDirect(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), request.render);
      return;
    }
    const [rawPath, rawQuery = ''] = request.afterimage.split('?');
    const { response } = await service.serve({ method: 'GET', rawPath, rawQuery, headers: { accept: request.accept } });
    if (response.status !== 200) throw new Error(`${request.afterimage}: ${response.status}`);
  };
  process.on('message', async (message: { workload: string; images: number }) => {
    const threadsBefore = threadTimes();
    const cpuBefore = process.cpuUsage();
    const walls: number[] = [];
    for (let i = 0; i < message.images; i++) {
      const started = performance.now();
      await one(message.workload);
      walls.push(performance.now() - started);
    }
    const cpu = process.cpuUsage(cpuBefore);
    const threadsAfter = threadTimes();
    const per = (key: keyof CellFigures['threads']) => (threadsAfter[key] - threadsBefore[key]) / message.images;
    const figures: CellFigures = { wallMs: median(walls), cpuMs: (cpu.user + cpu.system) / 1000 / message.images, threads: { main: per('main'), libvips: per('libvips'), other: per('other') } };
    process.send!(figures);
  });
  process.send!('ready');
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child(process.argv[3] as Mode, process.argv[4]);
  const s3 = await startCountedS3([BUCKET]);
  const processes: { mode: Mode; flags: readonly string[]; send: (workload: string, images: number) => Promise<CellFigures>; kill: () => void }[] = [];
  try {
    await s3.put(BUCKET, CAMERA_KEY, await cameraJpeg(), 'image/jpeg');
    await s3.put(BUCKET, CUTOUT_KEY, await cutoutPng(), 'image/png');
    const upload = await uploadJpeg();
    for (let v = 0; v < VERSIONS; v++) await s3.put(BUCKET, `${BACKUP_FOLDER}image/upload/${ASSET_PATH}/${FIRST_VERSION + v}.jpg`, upload, 'image/jpeg');
    for (const mode of ['afterimage', 'limit+S3'] as const) {
      for (const flags of [[], NODE_FLAGS] as const) {
        const child = fork(__filename, ['child', mode, s3.endpoint], { execArgv: [...flags, '--import', 'tsx'], env: { ...process.env, NODE_OPTIONS: '' } });
        await new Promise((resolve) => child.once('message', resolve));
        const send = (workload: string, images: number) => new Promise<CellFigures>((resolve) => {
          child.once('message', resolve);
          child.send({ workload, images });
        });
        processes.push({ mode, flags, send, kill: () => child.kill() });
      }
    }
    const before = { ...s3.requests };
    console.log(`## Node's flags and the garbage collector's threads\n\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.versions.node}, sharp ${sharp.versions.sharp}; ${ROUNDS} interleaved rounds, one image at a time; medians of the rounds (ms per image).\n`);
    console.log('| workload | process | Node flags | wall | CPU | main thread | libvips threads | Node\'s other threads |');
    console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
    const summary: string[] = [];
    for (const workload of WORKLOAD_IDS) {
      const images = IMAGES[workload];
      for (const p of processes) await p.send(workload, 2); // warm-up
      const cells: CellFigures[][] = processes.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < processes.length; i++) {
          const k = (i + round) % processes.length;
          cells[k].push(await processes[k].send(workload, images));
        }
      }
      const title = WORKLOADS.find((w) => w.id === workload)!.title;
      const figures = cells.map((rounds) => ({
        wallMs: median(rounds.map((r) => r.wallMs)),
        cpuMs: median(rounds.map((r) => r.cpuMs)),
        main: median(rounds.map((r) => r.threads.main)),
        libvips: median(rounds.map((r) => r.threads.libvips)),
        other: median(rounds.map((r) => r.threads.other)),
      }));
      processes.forEach((p, i) => {
        const f = figures[i];
        const ms = (v: number) => v.toFixed(1);
        console.log(`| ${title} | ${p.mode} | ${p.flags.length ? p.flags.join(' ') : 'default'} | ${ms(f.wallMs)} | ${ms(f.cpuMs)} | ${ms(f.main)} | ${ms(f.libvips)} | ${ms(f.other)} |`);
      });
      for (let i = 0; i < processes.length; i += 2) {
        summary.push(`- ${title}, ${processes[i].mode}: with ${NODE_FLAGS.join(' ')}, wall ×${(figures[i + 1].wallMs / figures[i].wallMs).toFixed(2)}, CPU ×${(figures[i + 1].cpuMs / figures[i].cpuMs).toFixed(2)} of the default's`);
      }
    }
    console.log(`\n${summary.join('\n')}`);
    const s3Used = countsSince(s3.requests, before);
    console.log(`\nS3 requests during the measured rounds: ${s3Used.get} GET, ${s3Used.list} LIST.`);
  } finally {
    for (const p of processes) p.kill();
    await s3.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
