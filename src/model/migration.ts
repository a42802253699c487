/** The `migration` part of a spec: where the old data is and how to copy it. Pure: zod only. */
import { z } from 'zod';

const endpointSchema = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });

/** Secrets are named, never given: the activities read them from the environment or a file. */
export const authRefSchema = z
  .object({
    username: z.string().optional(),
    /** Name of an environment variable holding the password. */
    passwordEnv: z.string().optional(),
    /** Path of a file holding the password. */
    passwordFile: z.string().optional(),
  })
  // A "password" field is refused, not dropped: the secret itself must never be in a spec (nor in history).
  .strict()
  .refine((a) => !(a.passwordEnv && a.passwordFile), { message: 'give passwordEnv or passwordFile, not both' });

/**
 * TLS to the source's nodes (and to its Sentinels): file paths on the worker. The server's certificate is verified
 * against `caFile` (or the system's CAs without it) and its name against `serverName` (or the host).
 */
export const sourceTlsSchema = z
  .object({
    caFile: z.string().startsWith('/', { message: 'must be an absolute path' }).optional(),
    /** A client certificate and its key, for sources that check clients (`tls-auth-clients yes`). */
    certFile: z.string().startsWith('/', { message: 'must be an absolute path' }).optional(),
    keyFile: z.string().startsWith('/', { message: 'must be an absolute path' }).optional(),
    /** The name the server's certificate must carry (SNI too). @default the host connected to */
    serverName: z.string().min(1).optional(),
    /** Accept any certificate: encrypts, but no longer proves whom it talks to. @default false */
    skipCertificateVerification: z.boolean().default(false),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'give certFile and keyFile together',
  });

/**
 * Where a source database goes in the target cluster: a database of the target (`db`: Valkey 9+ nodes with
 * `cluster-databases`, see the spec's clusterDatabases) and a key-name prefix, each optional.
 */
const databasesSchema = z.record(
  z.string().regex(/^\d+$/),
  z
    .object({
      /** Added in front of every key name. @default "" */
      prefix: z.string().default(''),
      /** The target database. @default 0 */
      db: z.number().int().min(0).default(0),
    })
    .strict(),
);

export const migrationSourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('standalone'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    auth: authRefSchema.optional(),
    tls: sourceTlsSchema.optional(),
    /** Databases to copy, and where each goes. @default {"0": {}}: db 0 into db 0; other non-empty dbs are refused */
    databases: databasesSchema.optional(),
  }),
  z.object({
    type: z.literal('cluster'),
    /** One or more nodes of the source cluster; its masters are discovered from them. */
    nodes: z.array(endpointSchema).min(1),
    auth: authRefSchema.optional(),
    tls: sourceTlsSchema.optional(),
    /** Valkey 9 clusters can hold numbered databases (cluster-databases): those to copy, and where each goes. */
    databases: databasesSchema.optional(),
  }),
  z.object({
    type: z.literal('sentinel'),
    /** The name the Sentinels know the master by (`sentinel monitor <masterName> ...`). */
    masterName: z.string().min(1),
    /** One or more Sentinels; each run and each sync chunk asks them which node is the master now. */
    sentinels: z.array(endpointSchema).min(1),
    /** Credentials for the data nodes (master and replicas). */
    auth: authRefSchema.optional(),
    /** Credentials for the Sentinels (`requirepass` in sentinel.conf), when they have any. */
    sentinelAuth: authRefSchema.optional(),
    /** TLS to the data nodes and the Sentinels. */
    tls: sourceTlsSchema.optional(),
    databases: databasesSchema.optional(),
  }),
  z.object({
    type: z.literal('rdb'),
    /** One RDB file per shard, in S3. */
    objects: z.array(z.string().regex(/^s3:\/\/[^/]+\/.+$/, { message: 'must be s3://bucket/key' })).min(1),
    databases: databasesSchema.optional(),
  }),
]);

export const migrationSchema = z
  .object({
    source: migrationSourceSchema,
    /**
     * snapshot: copy the keys as they are, then verify (the source should not take writes meanwhile). live: act as a
     * replica of each source master (PSYNC): load its snapshot, then apply every write it takes, until a cutover.
     * @default "snapshot"
     */
    mode: z.enum(['snapshot', 'live']).default('snapshot'),
    /**
     * How a live sync follows the source. psync: as a replica (exact, by replication offset). notifications: for
     * sources that allow no replication (managed services): a SCAN copy while subscribed to keyspace notifications,
     * then every key notified is copied again; needs `notify-keyspace-events` with E and A (e.g. "KEA").
     * @default "psync"
     */
    liveMethod: z.enum(['psync', 'notifications']).default('psync'),
    /** What to do with keys that already exist in the target. @default "replace" */
    conflict: z.enum(['replace', 'skip', 'fail']).default('replace'),
    /** auto: MIGRATE from the source straight to the target, DUMP/RESTORE through the worker when that fails. */
    copyMode: z.enum(['auto', 'migrate', 'dump-restore']).default('auto'),
    /** Keys per SCAN batch, and so the most keys copied twice after a crash. @default 1000 */
    batchSize: z.number().int().min(1).max(10_000).default(1000),
    /** Keys whose MEMORY USAGE is above this are copied piece by piece. @default 8 MiB */
    bigKeyBytes: z
      .number()
      .int()
      .min(1024)
      .default(8 * 1024 * 1024),
    /**
     * Hash field expirations (Redis 7.4+ HEXPIRE) on a target that has none: false refuses the run at the first such
     * key, naming it; true copies the fields without their expirations and counts them in the report. @default false
     */
    dropHashFieldTtls: z.boolean().default(false),
    /** Throttle at start; changeable while running. @default unlimited */
    keysPerSecond: z.number().positive().optional(),
    /** Expiry drift that verify accepts. @default 2000 */
    ttlToleranceMs: z.number().int().min(0).default(2000),
    verify: z
      .object({
        /** Keys per source shard whose values are compared. @default 1000 */
        sample: z.number().int().min(0).default(1000),
        /** Compare every key instead of a sample. @default false */
        all: z.boolean().default(false),
        /** Rounds of "copy the differences again, compare again" before the run fails with what still differs. @default 3 */
        rounds: z.number().int().min(0).max(20).default(3),
      })
      .default({ sample: 1000, all: false, rounds: 3 }),
  })
  .refine((m) => m.mode === 'live' || m.liveMethod === 'psync', {
    message: 'liveMethod "notifications" is a way of mode "live"; set "mode": "live"',
    path: ['liveMethod'],
  })
  .refine((m) => m.mode !== 'live' || m.source.type !== 'rdb', {
    message: 'mode "live" needs a source that replicates (standalone, cluster or sentinel), not RDB files',
    path: ['mode'],
  });

export type MigrationSpec = z.infer<typeof migrationSchema>;
/** What a user writes: defaults may be left out. */
export type MigrationSpecInput = z.input<typeof migrationSchema>;
export type MigrationSource = MigrationSpec['source'];
export type AuthRef = z.infer<typeof authRefSchema>;
export type SourceTls = z.infer<typeof sourceTlsSchema>;

/** At most this many differing keys per shard are listed by one verification (they travel through history). */
export const VERIFY_DIFFERENCES_LIMIT = 1000;
