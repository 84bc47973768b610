// README "Observability", the construct side: the dashboard and alarms ImageDelivery creates by
// default, their metrics and thresholds, the SNS options, turning them off, and cdk-nag. The
// stack is really synthesised (bundling skipped, as in stack.test.ts).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DIMENSION, METRIC, METRICS_NAMESPACE } from '../lambda/telemetry';
import { ImageDelivery, type ImageDeliveryProps } from '../lib/image-delivery';
import { DEFAULT_THRESHOLDS, MonitoringOptionError } from '../lib/monitoring';
import { CDK_CONTEXT, EXAMPLE_CONFIG, newApp, TEST_ENV } from './helpers/cdk-app';

const ROOT = path.join(__dirname, '..');

function synth(props: Partial<ImageDeliveryProps> = {}, extra?: (stack: Stack) => Partial<ImageDeliveryProps>): { delivery: ImageDelivery; template: Template; stack: Stack } {
  const stack = new Stack(newApp(), 'Monitored', { env: TEST_ENV });
  const delivery = new ImageDelivery(stack, 'Images', { config: EXAMPLE_CONFIG, ...props, ...extra?.(stack) });
  return { delivery, template: Template.fromStack(stack), stack };
}

type Alarm = { Properties: Record<string, unknown> & { Metrics?: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: { Name: string; Value: unknown }[] }; Period: number; Stat: string } }[] } };

/** The alarms of a template by the construct id of their alarm (ServerErrorRate, ...). */
function alarmsOf(template: Template): Record<string, Alarm> {
  const alarms = template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
  return Object.fromEntries(Object.entries(alarms).map(([logicalId, alarm]) => [logicalId.replace(/^ImagesMonitoring/, '').replace(/[0-9A-F]{8}$/, ''), alarm]));
}

describe('by default: a dashboard and five alarms over the metrics the function writes', () => {
  const { template, delivery } = synth();
  const alarms = alarmsOf(template);

  test('the function writes its metrics under the namespace and service the alarms read', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME: 'Monitored/Images' }) },
    });
  });

  test('five alarms, one dashboard, no topic, no alarm actions', () => {
    expect(Object.keys(alarms).sort()).toEqual(['Duration', 'InvocationErrors', 'Invocations', 'OriginErrors', 'ServerErrorRate', 'Throttles']);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
      expect(alarm.Properties.TreatMissingData).toBe('notBreaching');
    }
    expect(Object.keys(delivery.monitoring!.alarms).sort()).toEqual(['duration', 'invocationErrors', 'invocations', 'originErrors', 'serverErrorRate', 'throttles']);
  });

  test('5xx rate: the 5xx requests over all requests, in percent, per minute, 3 of 5 minutes over 5 %', () => {
    const p = alarms.ServerErrorRate.Properties;
    expect(p).toMatchObject({ Threshold: DEFAULT_THRESHOLDS.serverErrorRatePercent, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 5, DatapointsToAlarm: 3 });
    const byId = Object.fromEntries(p.Metrics!.map((m) => [m.Id, m]));
    expect(byId.expr_1.Expression).toBe(`IF(requests >= ${DEFAULT_THRESHOLDS.minRequestsForErrorRate}, 100 * FILL(errors, 0) / requests, 0)`);
    const service = { Name: 'service', Value: 'Monitored/Images' };
    expect(byId.requests.MetricStat).toEqual({ Metric: { MetricName: METRIC.requests, Namespace: METRICS_NAMESPACE, Dimensions: [service] }, Period: 60, Stat: 'Sum' });
    expect(byId.errors.MetricStat!.Metric.Dimensions).toEqual(expect.arrayContaining([service, { Name: DIMENSION.statusClass, Value: '5xx' }]));
    expect(byId.errors.MetricStat!.Metric.MetricName).toBe(METRIC.requests);
  });

  test('origin errors: the function’s OriginErrors, 5 or more in 5 minutes', () => {
    expect(alarms.OriginErrors.Properties).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.originErrors,
      Dimensions: [{ Name: 'service', Value: 'Monitored/Images' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  test('throttles, duration near the timeout and the cost guard read the function’s Lambda metrics', () => {
    const fn = { Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^ImagesFunction/) } };
    expect(alarms.Throttles.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: [fn], Threshold: 1, Period: 300 });
    // A timeout, out of memory or a crash writes no log line: only Lambda's Errors sees it.
    expect(alarms.InvocationErrors.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Statistic: 'Sum', Dimensions: [fn], Threshold: 1, Period: 300 });
    // 80 % of the default 30 s timeout, on the p99.
    expect(alarms.Duration.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Duration', ExtendedStatistic: 'p99', Threshold: 24_000, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    expect(alarms.Invocations.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Invocations', Statistic: 'Sum', Period: 60, Threshold: 6000, EvaluationPeriods: 3 });
  });

  test('the dashboard graphs the function’s own metrics, Lambda’s and CloudFront’s', () => {
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    for (const name of Object.values(METRIC)) expect(body).toContain(`\\"${name}\\"`);
    for (const name of ['Throttles', 'Duration', 'Invocations', '5xxErrorRate']) expect(body).toContain(`\\"${name}\\"`);
    expect(body).toContain('AWS/CloudFront');
  });
});

describe('options', () => {
  test('thresholds are configurable; the duration alarm follows the timeout', () => {
    const { template } = synth({
      timeout: Duration.seconds(20),
      monitoring: { serverErrorRatePercent: 2, minRequestsForErrorRate: 100, originErrors: 1, throttles: 10, invocationErrors: 3, durationPercentOfTimeout: 50, invocationsPerMinute: 500 },
    });
    const alarms = alarmsOf(template);
    expect(alarms.ServerErrorRate.Properties.Threshold).toBe(2);
    expect(alarms.ServerErrorRate.Properties.Metrics![0].Expression).toMatch(/^IF\(requests >= 100,/);
    expect(alarms.OriginErrors.Properties.Threshold).toBe(1);
    expect(alarms.Throttles.Properties.Threshold).toBe(10);
    expect(alarms.InvocationErrors.Properties.Threshold).toBe(3);
    expect(alarms.Duration.Properties.Threshold).toBe(10_000);
    expect(alarms.Invocations.Properties.Threshold).toBe(500);
  });

  test('alarmEmail: a topic (TLS only) with the address subscribed, notified on alarm and on recovery', () => {
    const { template } = synth({ monitoring: { alarmEmail: 'ops@example.com' } });
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    // That policy replaces SNS's default one, so it must let this account's alarms publish.
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
    const topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
    for (const alarm of Object.values(alarmsOf(template))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
    }
  });

  test('alarmTopic: the alarms notify the given topic; none is created', () => {
    const { template } = synth({}, (stack) => ({ monitoring: { alarmTopic: sns.Topic.fromTopicArn(stack, 'Ops', 'arn:aws:sns:us-east-1:111111111111:ops') } }));
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of Object.values(alarmsOf(template))) expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:us-east-1:111111111111:ops']);
  });

  test('monitoring: false leaves out the dashboard and the alarms (the function still writes its metrics)', () => {
    const { template, delivery } = synth({ monitoring: false });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(delivery.monitoring).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE }) } });
  });

  test('alarms and dashboard can each be turned off', () => {
    const dashboardOnly = synth({ monitoring: { alarms: false, alarmEmail: 'ops@example.com' } }).template;
    dashboardOnly.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    dashboardOnly.resourceCountIs('AWS::SNS::Topic', 0);
    dashboardOnly.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const alarmsOnly = synth({ monitoring: { dashboard: false } }).template;
    alarmsOnly.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    alarmsOnly.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  });

  test.each([
    [{ serverErrorRatePercent: 0 }, /monitoring\.serverErrorRatePercent must be a number above 0 \(received 0\)/],
    [{ serverErrorRatePercent: 150 }, /monitoring\.serverErrorRatePercent is a percentage, 100 at most/],
    [{ durationPercentOfTimeout: 120 }, /monitoring\.durationPercentOfTimeout is a percentage of the timeout/],
    [{ invocationsPerMinute: Number.NaN }, /monitoring\.invocationsPerMinute must be a number above 0/],
  ])('a threshold that cannot work is refused at synth: %j', (monitoring, message) => {
    expect(() => synth({ monitoring })).toThrow(MonitoringOptionError);
    expect(() => synth({ monitoring })).toThrow(message);
  });
});

describe('cdk-nag (AwsSolutions) with monitoring', () => {
  function violations(props: Partial<ImageDeliveryProps>): unknown[] {
    const app = newApp();
    const stack = new Stack(app, 'Nagged', { env: TEST_ENV });
    new ImageDelivery(stack, 'Images', { config: EXAMPLE_CONFIG, ...props });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const assembly = app.synth();
    const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
    return (report.pluginReports as { violations: unknown[] }[]).flatMap((r) => r.violations);
  }

  test('no unacknowledged finding, with the topic created for alarmEmail', () => {
    expect(violations({ monitoring: { alarmEmail: 'ops@example.com' } })).toEqual([]);
  });
});

// bin/app.ts as `cdk synth` runs it (context in CDK_CONTEXT_JSON, no bundling).
describe('the CDK app: -c alarmEmail, -c monitoring=false, -c originShieldRegion, -c originShield=false', () => {
  function synthApp(context: Record<string, unknown>): Template {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-app-'));
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(ROOT, 'bin', 'app.ts')], {
      cwd: ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], configFile: 'afterimage.config.example.json', ...context }), CDK_OUTDIR: outdir },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect([result.status, result.stderr.split('\n').filter((line) => line.includes('Error'))]).toEqual([0, []]);
    return Template.fromJSON(JSON.parse(fs.readFileSync(path.join(outdir, 'Afterimage.template.json'), 'utf8')));
  }

  test('alarmEmail subscribes the address to the alarms; monitoring=false leaves them out', () => {
    const withEmail = synthApp({ alarmEmail: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    withEmail.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    const off = synthApp({ monitoring: 'false' });
    off.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    off.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  }, 240_000);

  test('originShieldRegion puts Origin Shield there; originShield=false turns it off (README "Origin Shield")', () => {
    const shieldOf = (template: Template) => (Object.values(template.findResources('AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig.Origins as { OriginShield: unknown }[])[0].OriginShield;
    expect(shieldOf(synthApp({ originShieldRegion: 'eu-west-1' }))).toEqual({ Enabled: true, OriginShieldRegion: 'eu-west-1' });
    expect(shieldOf(synthApp({ originShield: 'false' }))).toEqual({ Enabled: false });
  }, 240_000);

  test('originShield=false with an originShieldRegion is refused in one line, naming both', () => {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(ROOT, 'bin', 'app.ts')], {
      cwd: ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], configFile: 'afterimage.config.example.json', originShield: 'false', originShieldRegion: 'eu-west-1' }), CDK_OUTDIR: fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-app-')) },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('afterimage: -c originShield=false and -c originShieldRegion=... contradict each other: give one of them.');
  }, 240_000);
});
