/** The S3 client: custom endpoints, path-style addressing, credentials from the standard AWS chain only. */
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { type ClusterSpec, parseS3Uri } from '../model';

// The SDK warns about Node versions it will drop in future releases; this project pins a version that supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export type S3ClientFactory = (settings: ClusterSpec['s3']) => S3Client;

/** An S3 client for a spec's settings; credentials from the standard AWS chain unless given. */
export const createS3Client = (
  settings: ClusterSpec['s3'],
  credentials?: { accessKeyId: string; secretAccessKey: string },
): S3Client =>
  new S3Client({
    credentials,
    region: settings?.region ?? process.env.AWS_REGION ?? 'us-east-1',
    endpoint: settings?.endpoint ?? process.env.RCO_S3_ENDPOINT,
    forcePathStyle: settings?.forcePathStyle ?? Boolean(settings?.endpoint ?? process.env.RCO_S3_ENDPOINT),
    // S3-compatible stores do not all speak the SDK's newest checksum headers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The activity's retry policy retries too: a store that refuses connections fails in bounded time.
    maxAttempts: 2,
  });

export const defaultS3ClientFactory: S3ClientFactory = (settings) => createS3Client(settings);

/** The endpoint a spec's S3 settings reach, for messages. */
export const s3EndpointOf = (settings: ClusterSpec['s3']): string =>
  settings?.endpoint ??
  process.env.RCO_S3_ENDPOINT ??
  `AWS S3 (${settings?.region ?? process.env.AWS_REGION ?? 'us-east-1'})`;

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

/**
 * The text of an S3 object for `what` (e.g. "config of m1 (10.0.0.1:50001)"), or undefined when it does not exist.
 * Any other failure names the object, what it was for, and the endpoint.
 */
export async function readS3Text(
  factory: S3ClientFactory,
  settings: ClusterSpec['s3'],
  uri: string,
  what: string,
): Promise<string | undefined> {
  const client = factory(settings);
  try {
    return await getS3Text(client, uri);
  } catch (err) {
    throw new Error(`reading ${uri} (${what}) from ${s3EndpointOf(settings)}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    client.destroy();
  }
}
