// Which AWS Region CloudFront Origin Shield runs in, for a function in a given Region.
//
// Without Origin Shield every regional edge cache that misses asks the function on its own, so
// a new image viewed around the world is rendered once per regional edge cache that asks; with
// it, every cache layer asks one Origin Shield, which normally asks the function once
// (README "Origin Shield").
//
// The table is the CloudFront Developer Guide's "Choosing the AWS Region for Origin Shield"
// (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/origin-shield.html, as its
// archived awsdocs/amazon-cloudfront-developer-guide copy gives it; the live page may since list
// more Regions, which `originShield: { region }` can name): the
// Regions that offer Origin Shield (those with a regional edge cache), each used for an origin
// in it, and the Region the guide names for an origin in a Region without one. A Region the
// guide does not list (one opened since) has no entry: the construct then leaves Origin Shield
// off and says so, and `originShield: { region }` chooses one.

/** The Regions in which CloudFront offers Origin Shield. */
export const ORIGIN_SHIELD_REGIONS: readonly string[] = [
  'us-east-2',
  'us-east-1',
  'us-west-2',
  'ap-south-1',
  'ap-northeast-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
  'eu-central-1',
  'eu-west-1',
  'eu-west-2',
  'sa-east-1',
];

/** For a function in a Region without Origin Shield: the Region the guide names instead. */
const NEAREST_ORIGIN_SHIELD: Readonly<Record<string, string>> = {
  'us-west-1': 'us-west-2',
  'af-south-1': 'eu-west-1',
  'ap-east-1': 'ap-southeast-1',
  'ca-central-1': 'us-east-1',
  'eu-south-1': 'eu-central-1',
  'eu-west-3': 'eu-west-2',
  'eu-north-1': 'eu-west-2',
  'me-south-1': 'ap-south-1',
};

/** The Origin Shield Region for a function in `region`, or undefined when the guide names none. */
export function originShieldRegionFor(region: string): string | undefined {
  return ORIGIN_SHIELD_REGIONS.includes(region) ? region : NEAREST_ORIGIN_SHIELD[region];
}

/** The shape CloudFront accepts for OriginShieldRegion (API reference, OriginShield). */
export const REGION_PATTERN = /^[a-z]{2}-[a-z]+-\d$/;
