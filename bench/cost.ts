// The bill on paper, from the CPU time the benchmark measured: what a million renders cost in
// Lambda (arm64) at a few memory sizes, and what one page of images costs in S3 requests and
// CloudFront bytes. Prices are list prices, us-east-1, as written below; a reader with other
// prices changes this table only.

/** USD list prices (us-east-1, on-demand, first tier), as published by AWS on the pages named. */
export const PRICES = {
  /** aws.amazon.com/lambda/pricing, Arm, first 7.5 billion GB-s a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** aws.amazon.com/lambda/pricing, per request. */
  lambdaPerRequest: 0.2 / 1e6,
  /** aws.amazon.com/s3/pricing, S3 Standard GET (and HEAD), per request ($0.0004 per 1,000). */
  s3Get: 0.0004 / 1000,
  /** aws.amazon.com/s3/pricing, S3 Standard LIST, per request ($0.005 per 1,000). */
  s3List: 0.005 / 1000,
  /** aws.amazon.com/cloudfront/pricing, data transfer out, North America, first 10 TB, per GB. */
  cloudFrontPerGb: 0.085,
  /** aws.amazon.com/cloudfront/pricing, HTTPS requests, North America ($0.0100 per 10,000). */
  cloudFrontPerRequest: 0.01 / 10000,
  /** Where the figures come from. */
  source: 'AWS list prices for us-east-1 (Lambda, S3 and CloudFront pricing pages), as of November 2026; check the pages for your region and tier',
} as const;

/** Lambda gives a function CPU in proportion to its memory: one full vCPU at 1769 MB. */
export const MB_PER_VCPU = 1769;
export const MEMORY_SIZES_MB = [1024, 1536, 2048, 3008] as const;

/**
 * Time a render waits for S3 in the same region (first byte and a few MB at a few hundred
 * Mbit/s), during which the function is billed but uses little CPU. An assumption, not measured.
 */
export const S3_FETCH_MS = 30;

/**
 * Expected duration of one render: the CPU time spread over the vCPU share the memory buys,
 * at most one vCPU's worth of parallel work per request (decode, resize and the WebP/JPEG
 * encoders are mostly one thread each; AVIF uses more), plus the wait for S3.
 */
export function expectedDurationMs(cpuMs: number, memoryMB: number): number {
  return cpuMs / Math.min(1, memoryMB / MB_PER_VCPU) + S3_FETCH_MS;
}

/** USD per million renders of `cpuMs` each at `memoryMB` (duration + requests). */
export function costPerMillion(cpuMs: number, memoryMB: number): number {
  const seconds = expectedDurationMs(cpuMs, memoryMB) / 1000;
  return 1e6 * ((memoryMB / 1024) * seconds * PRICES.lambdaArmPerGbSecond + PRICES.lambdaPerRequest);
}

export interface CostRow {
  title: string;
  cpuMs: number;
}

/** Markdown: duration and cost per million images at each memory size. */
export function lambdaCostTable(rows: CostRow[]): string {
  const lines = [
    `| workload (afterimage CPU ms/image) | ${MEMORY_SIZES_MB.map((m) => `${m} MB: ms, $/M`).join(' | ')} |`,
    `| --- | ${MEMORY_SIZES_MB.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const cells = MEMORY_SIZES_MB.map((m) => `${expectedDurationMs(row.cpuMs, m).toFixed(0)} ms, $${costPerMillion(row.cpuMs, m).toFixed(2)}`);
    lines.push(`| ${row.title} (${row.cpuMs.toFixed(0)}) | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * One page of `images` images served through a srcset: the bytes of the width a browser picks
 * for each, the requests at CloudFront, and on a cache miss the S3 GETs and Lambda renders. From
 * a Cloudinary backup, a sandbox also lists an asset's versions when it resolves it (README,
 * "Resolution cache"): as often as it reads the original, at worst, at 12.5 times a GET's price.
 */
export function pageCost(options: { images: number; bytesPerImage: number; s3GetsPerRender: number; cpuMs: number; memoryMB: number }): string {
  const { images, bytesPerImage, s3GetsPerRender, cpuMs, memoryMB } = options;
  const gb = (images * bytesPerImage) / 1e9;
  const perMillionViews = {
    bytes: 1e6 * gb * PRICES.cloudFrontPerGb,
    requests: 1e6 * images * PRICES.cloudFrontPerRequest,
  };
  const perMillionMisses = {
    lambda: (images * costPerMillion(cpuMs, memoryMB)),
    s3: 1e6 * images * s3GetsPerRender * PRICES.s3Get,
    s3Lists: 1e6 * images * s3GetsPerRender * PRICES.s3List,
  };
  return [
    `| per million page views of ${images} images (${(bytesPerImage / 1024).toFixed(0)} KB each) | USD |`,
    '| --- | ---: |',
    `| CloudFront bytes out (${(gb * 1e3).toFixed(2)} MB a page) | ${perMillionViews.bytes.toFixed(2)} |`,
    `| CloudFront requests | ${perMillionViews.requests.toFixed(2)} |`,
    `| renders at ${memoryMB} MB, were every view a cache miss (each URL is rendered once, then served by CloudFront) | ${perMillionMisses.lambda.toFixed(2)} |`,
    `| S3 GETs for those renders (${s3GetsPerRender} per render) | ${perMillionMisses.s3.toFixed(2)} |`,
    `| from a Cloudinary backup, S3 LISTs too (the asset's versions, listed when a sandbox resolves it: at most as often as the GETs) | ${perMillionMisses.s3Lists.toFixed(2)} |`,
  ].join('\n');
}
