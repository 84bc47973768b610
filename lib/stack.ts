// The deployable stack: one ImageDelivery and the values a user needs after deploying.

import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type { Construct } from 'constructs';
import { ImageDelivery, type ImageDeliveryProps } from './image-delivery';

export interface ImageDeliveryStackProps extends StackProps {
  readonly delivery: ImageDeliveryProps;
  /**
   * ARN of an ACM certificate in us-east-1 for `delivery.domainNames`, when the certificate
   * is not given as `delivery.certificate`.
   * @default - none
   */
  readonly certificateArn?: string;
}

export class ImageDeliveryStack extends Stack {
  readonly delivery: ImageDelivery;

  constructor(scope: Construct, id: string, props: ImageDeliveryStackProps) {
    super(scope, id, props);
    const certificate =
      props.delivery.certificate ??
      (props.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn) : undefined);
    this.delivery = new ImageDelivery(this, 'Images', { ...props.delivery, ...(certificate ? { certificate } : {}) });
    const { distribution, secret } = this.delivery;
    const host = props.delivery.domainNames?.[0] ?? distribution.distributionDomainName;

    new CfnOutput(this, 'DistributionUrl', { description: 'Base URL of the image delivery', value: `https://${host}` });
    new CfnOutput(this, 'DistributionDomainName', {
      description: 'CloudFront domain name (the CNAME target for a custom domain)',
      value: distribution.distributionDomainName,
    });
    new CfnOutput(this, 'DistributionId', {
      description: 'The distribution to invalidate: npx afterimage purge reads it from cdk-outputs.json',
      value: distribution.distributionId,
    });
    new CfnOutput(this, 'SecretArn', {
      description: 'The secret to put the bucket keys in (accessKeyId, secretAccessKey; privateKey for signed URLs)',
      value: secret.secretArn,
    });
    new CfnOutput(this, 'FunctionUrl', {
      description: 'The Function URL behind CloudFront: it must refuse direct requests (403); npm run smoke checks that',
      value: this.delivery.functionUrl.url,
    });
    new CfnOutput(this, 'FunctionName', { description: 'The Lambda function (logs, metrics)', value: this.delivery.function.functionName });
  }
}
