// The limits: one table of every `limits.*` setting (its default, the integers it accepts, and
// what it bounds), from which come the LimitsConfig type, DEFAULT_LIMITS, parseConfig's checks
// and the README's limits table (test/config.test.ts fails when the README drifts from it).

/** One limit: an integer setting, its default and the range parseConfig accepts. */
export interface LimitSpec {
  /** The value when the configuration leaves it out; `undefined`: left out of the parsed configuration (see `defaultText`). */
  readonly default: number | undefined;
  readonly min: number;
  readonly max: number;
  /** The default as the README shows it, when the bare number does not say it well. */
  readonly defaultText?: string;
  /** What it bounds and what a request past it gets: the README's "meaning" column, Markdown. */
  readonly doc: string;
}

/** The Lambda function's memory when the construct is not told otherwise, in MB. */
export const DEFAULT_FUNCTION_MEMORY_MB = 1536;

/**
 * The default `limits.memoryBudgetMB` for a function of `memorySizeMB`: 80 %. The rest is
 * headroom for what the cost model does not see: the Lambda runtime, the response on its way
 * out, and memory the allocator keeps after earlier requests.
 */
export function memoryBudgetFor(memorySizeMB: number): number {
  return Math.floor(memorySizeMB * 0.8);
}

/** Node, sharp and the service before any image work, in MiB (measured: 85-105); the cost model's baseline. */
export const PROCESS_BASELINE_MB = 128;

/**
 * The default `limits.originalCacheMB` for a memory budget: a quarter of what the budget has
 * above the process's baseline, at most 256 MB (1228 MB → 256; 160 MB → 8; 128 MB → off).
 */
export function originalCacheFor(memoryBudgetMB: number): number {
  return Math.min(256, Math.max(0, Math.floor((memoryBudgetMB - PROCESS_BASELINE_MB) / 4)));
}

/** What one render may cost by the cost model: the memory budget less what the cache of originals may hold. */
export function renderBudgetMB(limits: Pick<LimitsConfig, 'memoryBudgetMB' | 'originalCacheMB'>): number {
  return limits.memoryBudgetMB - limits.originalCacheMB;
}

/** Every limit, in the order the README lists them and an unknown-setting message names them. */
export const LIMITS = {
  maxOutputDimension: {
    default: 8192, min: 1, max: 16383,
    doc: 'largest output width or height (400 above)',
  },
  maxInputBytes: {
    default: 50 * 1024 * 1024, min: 1, max: 2 ** 31, defaultText: '50 MiB',
    doc: 'largest stored file read (422 above)',
  },
  // What a request may then cost in memory and time is the cost model's to bound (memoryBudgetMB).
  maxInputPixels: {
    default: 50_000_000, min: 1, max: 2 ** 32, defaultText: '50,000,000',
    doc: 'largest input in pixels, width × height × frames (422 above)',
  },
  // It bounds what an animation (whose frames multiply) or an enlargement can cost; the default
  // lets every still image within maxOutputDimension through.
  maxOutputPixels: {
    default: 8192 * 8192, min: 1, max: 2 ** 32, defaultText: '67,108,864 (8192²)',
    doc: 'largest output in pixels, width × height × frames, checked before the work (400 above)',
  },
  // By the estimate of lambda/image/cost.ts: a negotiated format steps down (AVIF → WebP →
  // PNG/JPEG), anything else over it is a 422.
  memoryBudgetMB: {
    default: memoryBudgetFor(DEFAULT_FUNCTION_MEMORY_MB), min: 128, max: 10240,
    doc: "peak memory of one request in MB (MiB, as Lambda counts), by the [cost model](#memory-and-time-the-cost-model)'s estimate before the work: 80 % of the default 1536 MB function. Deployed with the CDK construct it follows `memorySize` (80 % of it) unless you set it",
  },
  // Held across requests, so it comes out of the budget: a render gets the rest (renderBudgetMB).
  originalCacheMB: {
    // Left out, it follows the budget (originalCacheFor); this is its value at the default budget.
    default: 256, min: 0, max: 5056, defaultText: '256; a quarter of `memoryBudgetMB` above 128 when that is less',
    doc: 'memory kept for the [cache of recently read originals](#the-cache-of-originals) in MB, taken out of `limits.memoryBudgetMB`: a render is held to the rest (972 MB by default). At most half of the budget above 128 MB; `0` turns the cache off. An original over an eighth of it is not kept',
  },
  maxEncodeSeconds: {
    default: 10, min: 1, max: 900,
    doc: 'estimated encoding time of one request, by the same model',
  },
  maxAvifPixels: {
    default: 3840 * 2160, min: 0, max: 2 ** 32, defaultText: '8,294,400 (3840×2160)',
    doc: 'largest AVIF output in pixels, width × height × frames; negotiated AVIF above it is WebP, `f-avif` a 422',
  },
  maxSteps: {
    default: 10, min: 1, max: 100,
    doc: 'most chained steps (400 above)',
  },
  maxChainLength: {
    default: 2048, min: 16, max: 65536,
    doc: 'longest chain in characters (400 above)',
  },
  maxLayers: {
    default: 5, min: 0, max: 50,
    doc: 'most layers (`l-image`, `l-text`, Cloudinary `l_`/`u_`) in one request, every step counted (400 above)',
  },
  maxLayerText: {
    default: 500, min: 1, max: 5000,
    doc: 'longest text of a text layer, in characters (400 above)',
  },
  originTimeoutMs: {
    default: 5000, min: 100, max: 120_000,
    doc: 'timeout of one origin call (504 past it)',
  },
  originRetries: {
    default: 2, min: 0, max: 10,
    doc: 'retries of a 5xx or network failure, with jittered backoff (502 past them)',
  },
  // On Lambda the time left in the invocation can shorten it; the default leaves 10 s under the
  // function's default 30 s timeout.
  requestTimeoutMs: {
    default: 20_000, min: 100, max: 900_000,
    doc: 'deadline of one request, origin calls, queueing and rendering included: past it a `503` and the work is stopped (see [Bounded cost](#bounded-cost-of-a-request)); keep it under the function\'s timeout (30 s by default)',
  },
  // Lower than maxInputPixels: an SVG's size is only declared, so a few bytes can ask for any
  // size, and its filters are drawn on full-size surfaces, once for every tile.
  maxSvgPixels: {
    default: 2048 * 2048, min: 1, max: 2 ** 32, defaultText: '4,194,304 (2048²)',
    doc: 'largest raster an SVG is drawn at, at the density the URL asks for (422 above); `limits.maxInputPixels` applies too when it is lower',
  },
  maxQueuedRenders: {
    default: 100, min: 0, max: 100_000,
    doc: 'requests that may wait for a render slot; past it a `503` at once',
  },
  // No default in the parsed configuration: it is the CPUs of the machine that serves, not of
  // the one that validates.
  maxConcurrentRenders: {
    default: undefined, min: 1, max: 1024, defaultText: 'the number of CPUs; 1 in Lambda',
    doc: 'renders one process runs at once; the rest queue (a Lambda sandbox serves one request at a time)',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;

/** The limits the table gives a default for; the others are set only when written. */
type DefaultedLimit = { [K in LimitName]: (typeof LIMITS)[K]['default'] extends number ? K : never }[LimitName];
type DefaultedLimits = { [K in DefaultedLimit]: number };
type OptionalLimits = { [K in Exclude<LimitName, DefaultedLimit>]?: number };

/** The limits of a parsed configuration (see LIMITS for each one's meaning and default). */
export interface LimitsConfig extends DefaultedLimits, OptionalLimits {}

/** The limit names, in the table's order. */
export const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];

/** Every limit that has a default, at its default: the limits of a configuration that writes none. */
export const DEFAULT_LIMITS: LimitsConfig = tableDefaults();

function tableDefaults(): LimitsConfig {
  const defaults: Partial<Record<LimitName, number>> = {};
  for (const name of LIMIT_NAMES) {
    const value: number | undefined = LIMITS[name].default;
    if (value !== undefined) defaults[name] = value;
  }
  return defaults as LimitsConfig;
}
