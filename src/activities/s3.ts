/** The S3 client: custom endpoints, path-style addressing, credentials from the standard AWS chain only. */
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { ClusterSpec } from '../spec';

// The SDK warns about Node versions it will drop in future releases; this project pins a version that supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export type S3ClientFactory = (settings: ClusterSpec['s3']) => S3Client;

export const defaultS3ClientFactory: S3ClientFactory = (settings) =>
  new S3Client({
    region: settings?.region ?? process.env.AWS_REGION ?? 'us-east-1',
    endpoint: settings?.endpoint ?? process.env.RCO_S3_ENDPOINT,
    forcePathStyle: settings?.forcePathStyle ?? Boolean(settings?.endpoint ?? process.env.RCO_S3_ENDPOINT),
    // S3-compatible stores do not all speak the SDK's newest checksum headers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: match[1]!, key: match[2]! };
}

/** The object's text, or undefined when the bucket or key does not exist. */
export async function getS3Text(client: S3Client, uri: string): Promise<string | undefined> {
  const { bucket, key } = parseS3Uri(uri);
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await reply.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    if (err instanceof S3ServiceException && ['NoSuchKey', 'NoSuchBucket', 'NotFound'].includes(err.name))
      return undefined;
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}
