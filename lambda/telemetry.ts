// README "Observability": how the Lambda adapter reports a request record: one JSON log line
// (Powertools Logger) and CloudWatch metrics in Embedded Metric Format (Powertools Metrics),
// both written to stdout, flushed once per invocation. The names are shared with lib/monitoring.ts.

import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { ErrorCode } from './errors';
import { roundMs, type RequestRecord } from './service/request-record';

/** The CloudWatch namespace, unless POWERTOOLS_METRICS_NAMESPACE says otherwise (the construct sets it). */
export const METRICS_NAMESPACE = 'afterimage';

/** The `service` dimension and log field, unless POWERTOOLS_SERVICE_NAME says otherwise (the construct sets it). */
export const DEFAULT_SERVICE_NAME = 'afterimage';

/** Metric names (README "Observability"). */
export const METRIC = {
  /** 1 per request; also published by `StatusClass` (2xx…5xx) and, for errors, by `ErrorCode`. */
  requests: 'Requests',
  /** ms from the first origin call to the file read (listings and misses included). */
  originLatency: 'OriginLatency',
  /** 1 for an origin that refused, failed or timed out (EACCES, EORIGIN, ETIMEDOUT), else 0. */
  originErrors: 'OriginErrors',
  /** ms of the render: reading the header, drawing the steps, encoding. */
  transformTime: 'TransformTime',
  bytesOut: 'BytesOut',
  /** Cloudinary-backup resolutions reused from, or missing in, the cache. */
  resolutionCacheHits: 'ResolutionCacheHits',
  resolutionCacheMisses: 'ResolutionCacheMisses',
  /** An originals cache's hits and misses, where one answers (`record.originalsCache`). */
  originalsCacheHits: 'OriginalsCacheHits',
  originalsCacheMisses: 'OriginalsCacheMisses',
} as const;

export const DIMENSION = { statusClass: 'StatusClass', errorCode: 'ErrorCode' } as const;

const ORIGIN_ERROR_CODES: readonly string[] = ['EACCES', 'EORIGIN', 'ETIMEDOUT'] satisfies ErrorCode[];

/** `5xx` for 503. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** The fields of a request's log line: the record with its timings rounded to 0.1 ms. */
export function logFields(record: RequestRecord): Record<string, unknown> {
  const timings = Object.fromEntries(Object.entries(record.timings).map(([stage, ms]) => [stage, roundMs(ms)]));
  return { ...record, timings };
}

export class Telemetry {
  readonly logger: Logger;
  private readonly metrics: Metrics;
  /**
   * Requests again, by status class and error code: a blob of its own, so the other metrics are
   * not multiplied by these dimensions (each combination is a custom metric). A second instance
   * rather than `singleMetric()`, which builds a new one each time (about 0.18 ms a request here).
   */
  private readonly byStatus: Metrics;

  constructor() {
    const serviceName = process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;
    const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE;
    this.logger = new Logger({ serviceName });
    this.metrics = new Metrics({ namespace, serviceName });
    this.byStatus = new Metrics({ namespace, serviceName });
  }

  /**
   * One log line and one set of metrics for a request, written now (EMF is read from the log by
   * CloudWatch). `cloudfrontId` is CloudFront's request id (`x-amz-cf-id`), to find the request
   * in CloudFront's logs.
   */
  report(record: RequestRecord, context?: Context, cloudfrontId?: string): void {
    try {
      if (context) this.logger.addContext(context);
      const level = record.status >= 500 ? 'error' : record.status >= 400 ? 'warn' : 'info';
      this.logger[level]('request', { ...logFields(record), ...(cloudfrontId ? { cloudfrontId: cloudfrontId.slice(0, 128) } : {}) });
      this.publishMetrics(record);
    } catch (error) {
      // Reporting never costs a request its answer.
      console.error('afterimage: the request could not be reported', error);
    }
  }

  private publishMetrics(record: RequestRecord): void {
    const m = this.metrics;
    m.addMetric(METRIC.requests, MetricUnit.Count, 1);
    m.addMetric(METRIC.bytesOut, MetricUnit.Bytes, record.bytesOut);
    m.addMetric(METRIC.originErrors, MetricUnit.Count, record.errorCode && ORIGIN_ERROR_CODES.includes(record.errorCode) ? 1 : 0);
    const { lookup, fetch, transform, encode } = record.timings;
    if (lookup !== undefined || fetch !== undefined) m.addMetric(METRIC.originLatency, MetricUnit.Milliseconds, roundMs((lookup ?? 0) + (fetch ?? 0)));
    if (transform !== undefined) m.addMetric(METRIC.transformTime, MetricUnit.Milliseconds, roundMs(transform + (encode ?? 0)));
    if (record.resolutionCache) {
      m.addMetric(METRIC.resolutionCacheHits, MetricUnit.Count, record.resolutionCache === 'hit' ? 1 : 0);
      m.addMetric(METRIC.resolutionCacheMisses, MetricUnit.Count, record.resolutionCache === 'miss' ? 1 : 0);
    }
    if (record.originalsCache) {
      m.addMetric(METRIC.originalsCacheHits, MetricUnit.Count, record.originalsCache === 'hit' ? 1 : 0);
      m.addMetric(METRIC.originalsCacheMisses, MetricUnit.Count, record.originalsCache === 'miss' ? 1 : 0);
    }
    m.publishStoredMetrics();
    const byStatus = this.byStatus;
    byStatus.addDimensions({ [DIMENSION.statusClass]: statusClass(record.status) });
    if (record.errorCode) byStatus.addDimensions({ [DIMENSION.errorCode]: record.errorCode });
    byStatus.addMetric(METRIC.requests, MetricUnit.Count, 1);
    byStatus.publishStoredMetrics();
  }
}
