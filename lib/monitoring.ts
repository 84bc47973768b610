// README "Observability": a CloudWatch dashboard and alarms for one ImageDelivery, over the
// metrics the function writes in Embedded Metric Format (lambda/telemetry.ts) and the metrics
// Lambda and CloudFront publish themselves. ImageDelivery creates it unless `monitoring: false`.

import { Aws, Duration } from 'aws-cdk-lib';
import type * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { DIMENSION, METRIC } from '../lambda/telemetry';

/** Alarm thresholds; each has a default meant for a busy site behind CloudFront. */
export interface AlarmThresholds {
  /**
   * Share of requests answered with a 5xx, in percent, over a minute; the alarm fires when 3 of
   * 5 minutes are over it. Minutes with fewer than `minRequestsForErrorRate` requests count as 0 %.
   * @default 5
   */
  readonly serverErrorRatePercent?: number;
  /** @default 20 */
  readonly minRequestsForErrorRate?: number;
  /**
   * Requests whose origin refused, failed or timed out (EACCES, EORIGIN, ETIMEDOUT) in 5 minutes.
   * @default 5
   */
  readonly originErrors?: number;
  /** Throttled invocations (concurrency exhausted) in 5 minutes. @default 1 */
  readonly throttles?: number;
  /**
   * Failed invocations (Lambda's `Errors`: a timeout, running out of memory, a crash at start)
   * in 5 minutes. These write no log line or metric of their own, so the 5xx rate cannot see them.
   * @default 1
   */
  readonly invocationErrors?: number;
  /**
   * The p99 duration of invocations, as a percentage of the function's timeout, in 2 of 3
   * periods of 5 minutes (at the timeout a request is cut off).
   * @default 80
   */
  readonly durationPercentOfTimeout?: number;
  /**
   * Cost guard: invocations per minute (cache misses reaching the function), in 3 minutes in a
   * row. Set it above the busiest traffic you expect; sustained traffic over it is a bill to see.
   * @default 6000
   */
  readonly invocationsPerMinute?: number;
}

export interface MonitoringOptions extends AlarmThresholds {
  /** A CloudWatch dashboard of the function, its origins, renders and CloudFront. @default true */
  readonly dashboard?: boolean;
  /** The alarms (5xx rate, origin errors, throttles, failed invocations, duration, cost guard). @default true */
  readonly alarms?: boolean;
  /**
   * An SNS topic the alarms notify when they fire and when they recover. Its access policy must
   * let CloudWatch (`cloudwatch.amazonaws.com`) publish, and a KMS-encrypted topic needs a
   * customer managed key that CloudWatch may use.
   * @default - a topic created for `alarmEmail`, else no notification (the alarms are still visible)
   */
  readonly alarmTopic?: sns.ITopic;
  /** An email address to subscribe to a topic created for the alarms (ignored with `alarmTopic`). @default - none */
  readonly alarmEmail?: string;
}

export interface DeliveryMonitoringProps extends MonitoringOptions {
  readonly function: lambda.IFunction;
  readonly timeout: Duration;
  readonly distribution: cloudfront.Distribution;
  /** The metrics namespace and `service` dimension the function writes with. */
  readonly namespace: string;
  readonly serviceName: string;
}

export const DEFAULT_THRESHOLDS: Required<AlarmThresholds> = {
  serverErrorRatePercent: 5,
  minRequestsForErrorRate: 20,
  originErrors: 5,
  throttles: 1,
  invocationErrors: 1,
  durationPercentOfTimeout: 80,
  invocationsPerMinute: 6000,
};

export class DeliveryMonitoring extends Construct {
  readonly dashboard?: cloudwatch.Dashboard;
  /** The alarms by name: serverErrorRate, originErrors, throttles, invocationErrors, duration, invocations. */
  readonly alarms: Record<string, cloudwatch.Alarm> = {};
  readonly alarmTopic?: sns.ITopic;

  private readonly props: DeliveryMonitoringProps;

  constructor(scope: Construct, id: string, props: DeliveryMonitoringProps) {
    super(scope, id);
    this.props = props;
    const t = { ...DEFAULT_THRESHOLDS, ...definedOnly(props) };
    checkThresholds(t);
    if (props.alarms !== false) {
      this.alarmTopic = props.alarmTopic ?? (props.alarmEmail ? this.emailTopic(props.alarmEmail) : undefined);
      this.createAlarms(t);
    }
    if (props.dashboard !== false) this.dashboard = this.createDashboard();
  }

  /** One of the function's own metrics (namespace and `service` dimension), summed per minute unless told. */
  private metric(name: string, dimensions: Record<string, string> = {}, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.props.namespace,
      metricName: name,
      dimensionsMap: { service: this.props.serviceName, ...dimensions },
      statistic: 'Sum',
      period: Duration.minutes(1),
      ...options,
    });
  }

  private createAlarms(t: Required<AlarmThresholds>): void {
    const fn = this.props.function;
    const fiveMinutes = Duration.minutes(5);
    const add = (name: string, alarm: cloudwatch.Alarm) => {
      this.alarms[name] = alarm;
      if (this.alarmTopic) {
        alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
        alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
      }
    };
    const common = { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD };

    add(
      'serverErrorRate',
      new cloudwatch.Alarm(this, 'ServerErrorRate', {
        ...common,
        alarmDescription: `afterimage: over ${t.serverErrorRatePercent} % of requests answered 5xx in 3 of 5 minutes (minutes with fewer than ${t.minRequestsForErrorRate} requests count as 0 %)`,
        metric: new cloudwatch.MathExpression({
          expression: `IF(requests >= ${t.minRequestsForErrorRate}, 100 * FILL(errors, 0) / requests, 0)`,
          usingMetrics: { requests: this.metric(METRIC.requests), errors: this.metric(METRIC.requests, { [DIMENSION.statusClass]: '5xx' }) },
          label: '5xx rate (%)',
          period: Duration.minutes(1),
        }),
        threshold: t.serverErrorRatePercent,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
      }),
    );
    add(
      'originErrors',
      new cloudwatch.Alarm(this, 'OriginErrors', {
        ...common,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `afterimage: ${t.originErrors} or more requests in 5 minutes whose origin refused (keys, permissions), failed or timed out`,
        metric: this.metric(METRIC.originErrors, {}, { period: fiveMinutes }),
        threshold: t.originErrors,
        evaluationPeriods: 1,
      }),
    );
    add(
      'throttles',
      new cloudwatch.Alarm(this, 'Throttles', {
        ...common,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `afterimage: ${t.throttles} or more throttled invocations in 5 minutes (the function's or the account's concurrency is exhausted)`,
        metric: fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: t.throttles,
        evaluationPeriods: 1,
      }),
    );
    add(
      'invocationErrors',
      new cloudwatch.Alarm(this, 'InvocationErrors', {
        ...common,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: `afterimage: ${t.invocationErrors} or more failed invocations in 5 minutes (timed out, out of memory or crashed: CloudFront answered 5xx and the function wrote no log line)`,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: t.invocationErrors,
        evaluationPeriods: 1,
      }),
    );
    const timeoutMs = this.props.timeout.toMilliseconds();
    add(
      'duration',
      new cloudwatch.Alarm(this, 'Duration', {
        ...common,
        alarmDescription: `afterimage: p99 duration over ${t.durationPercentOfTimeout} % of the ${timeoutMs / 1000} s timeout in 2 of 3 periods of 5 minutes`,
        metric: fn.metricDuration({ period: fiveMinutes, statistic: 'p99' }),
        threshold: Math.round((timeoutMs * t.durationPercentOfTimeout) / 100),
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      }),
    );
    add(
      'invocations',
      new cloudwatch.Alarm(this, 'Invocations', {
        ...common,
        alarmDescription: `afterimage cost guard: over ${t.invocationsPerMinute} invocations per minute for 3 minutes in a row`,
        metric: fn.metricInvocations({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: t.invocationsPerMinute,
        evaluationPeriods: 3,
      }),
    );
  }

  private emailTopic(email: string): sns.Topic {
    // Not encrypted with KMS: CloudWatch cannot publish to a topic under the AWS managed SNS key,
    // and the notifications carry alarm states only, never image data or keys.
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'afterimage alarms', enforceSSL: true });
    // The topic policy that enforceSSL creates replaces SNS's default one, which let the
    // account's services publish: CloudWatch alarms of this account are allowed again here.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowThisAccountsAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  private createDashboard(): cloudwatch.Dashboard {
    const fn = this.props.function;
    const p99 = { statistic: 'p99' };
    const p50 = { statistic: 'p50' };
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const statusClasses = ['2xx', '3xx', '4xx', '5xx'].map((c) => this.metric(METRIC.requests, { [DIMENSION.statusClass]: c }, { label: c }));
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Requests by status class', left: statusClasses, stacked: true, width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Origin latency and render time (ms)',
        left: [
          this.metric(METRIC.originLatency, {}, { ...p50, label: 'origin p50' }),
          this.metric(METRIC.originLatency, {}, { ...p99, label: 'origin p99' }),
          this.metric(METRIC.transformTime, {}, { ...p50, label: 'render p50' }),
          this.metric(METRIC.transformTime, {}, { ...p99, label: 'render p99' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Bytes out, origin errors, cache hit ratios',
        left: [this.metric(METRIC.bytesOut, {}, { label: 'bytes out' })],
        right: [
          this.metric(METRIC.originErrors, {}, { label: 'origin errors' }),
          new cloudwatch.MathExpression({
            expression: '100 * rhits / (rhits + rmisses)',
            usingMetrics: { rhits: this.metric(METRIC.resolutionCacheHits), rmisses: this.metric(METRIC.resolutionCacheMisses) },
            label: 'resolution cache hit %',
            period: Duration.minutes(1),
          }),
          new cloudwatch.MathExpression({
            expression: '100 * ohits / (ohits + omisses)',
            usingMetrics: { ohits: this.metric(METRIC.originalsCacheHits), omisses: this.metric(METRIC.originalsCacheMisses) },
            label: 'originals cache hit %',
            period: Duration.minutes(1),
          }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Lambda: invocations, throttles, errors',
        left: [fn.metricInvocations({ statistic: 'Sum' }), fn.metricThrottles({ statistic: 'Sum' }), fn.metricErrors({ statistic: 'Sum' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `Lambda duration (ms; timeout ${this.props.timeout.toSeconds()} s)`,
        left: [fn.metricDuration(p50), fn.metricDuration(p99), fn.metricDuration({ statistic: 'Maximum' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'CloudFront: requests and 5xx rate',
        // CloudFront publishes its metrics in us-east-1 only.
        left: [this.props.distribution.metricRequests({ region: 'us-east-1', statistic: 'Sum' })],
        right: [this.props.distribution.metric5xxErrorRate({ region: 'us-east-1' })],
        width: 8,
      }),
    );
    const alarms = Object.values(this.alarms);
    if (alarms.length > 0) dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24 }));
    return dashboard;
  }
}

function definedOnly(thresholds: AlarmThresholds): AlarmThresholds {
  return Object.fromEntries(Object.entries(thresholds).filter(([name, value]) => name in DEFAULT_THRESHOLDS && value !== undefined));
}

/** Thresholds are checked at synth time, with a message naming the option. */
function checkThresholds(t: Required<AlarmThresholds>): void {
  const problems: string[] = [];
  const positive = (name: keyof AlarmThresholds) => {
    if (!Number.isFinite(t[name]) || t[name] <= 0) problems.push(`monitoring.${name} must be a number above 0 (received ${t[name]})`);
  };
  for (const name of Object.keys(DEFAULT_THRESHOLDS) as (keyof AlarmThresholds)[]) positive(name);
  if (t.serverErrorRatePercent > 100) problems.push(`monitoring.serverErrorRatePercent is a percentage, 100 at most (received ${t.serverErrorRatePercent})`);
  if (t.durationPercentOfTimeout > 100) problems.push(`monitoring.durationPercentOfTimeout is a percentage of the timeout, 100 at most (received ${t.durationPercentOfTimeout})`);
  if (problems.length > 0) throw new MonitoringOptionError(`ImageDelivery: ${problems.join('; ')}`);
}

/** A monitoring option that cannot work; the user's to fix. */
export class MonitoringOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MonitoringOptionError';
  }
}
