/** The steps of a run and the shape of its progress: what the progress query answers. Pure. */
import type { Engine } from './servers';

export const STEPS = [
  'validate',
  'inspectNodes',
  'fetchConfigs',
  'startNodes',
  'assignSlots',
  'formCluster',
  'moveSlots',
  'replicateNodes',
  'setNoFailover',
  'removeNodes',
  'verifyCluster',
  'migrateData',
  'verifyData',
] as const;

/** repairRedisCluster: bring a live cluster back to its spec. */
export const REPAIR_STEPS = [
  'validate',
  'inspectNodes',
  'fetchConfigs',
  'startNodes',
  'takeoverMasters',
  'forgetLostNodes',
  'startEmptyNodes',
  'rejoinNodes',
  'restoreRoles',
  'replicateNodes',
  'setNoFailover',
  'verifyCluster',
] as const;

/** verifyRedisCluster: the scheduled drift check, read only. */
export const VERIFY_STEPS = ['validate', 'checkDrift'] as const;

/** failoverRedisCluster: one master's role to its spec replica. */
export const FAILOVER_STEPS = ['validate', 'failover'] as const;

export type StepName =
  | (typeof STEPS)[number]
  | (typeof REPAIR_STEPS)[number]
  | (typeof FAILOVER_STEPS)[number]
  | (typeof VERIFY_STEPS)[number];

/**
 * Destructive steps wait for an operator: `takeover` (CLUSTER FAILOVER TAKEOVER: a replica takes a dead master's
 * slots without its agreement), `forget` (CLUSTER FORGET of a node id that lost its data, on every node) and
 * `remove` (provisioning takes the spec's `remove` nodes out of the cluster: forgotten everywhere, reset, stopped).
 */
export const APPROVALS = ['takeover', 'forget', 'remove'] as const;
export type Approval = (typeof APPROVALS)[number];

/** What a run waits for an operator to approve, and exactly what it will do then. */
export interface WaitingForApproval {
  approval: Approval;
  plan: { node?: string; change: string }[];
}
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepProgress {
  name: StepName;
  status: StepStatus;
  /** Workflow time, ISO 8601. */
  startedAt?: string;
  durationMs?: number;
  /** What the step found and changed. */
  result?: unknown;
  error?: string;
}

export interface ShardProgress {
  shard: string;
  /** Keys in the shard when the migration was planned (0 when unknown). */
  keysTotal: number;
  scanned: number;
  copied: number;
  skipped: number;
  failed: number;
  bigKeys: number;
  /** Keys rebuilt by type: their payloads' RDB version is newer than the target's and their type unknown to it. */
  rebuilt?: number;
  /** Hash field expirations left out on request (migration.dropHashFieldTtls), the target having none. */
  fieldTtlsDropped?: number;
  mode: 'migrate' | 'dump-restore';
  /** The worker that ran the shard's last chunk (its identity, pid@host unless RCO_WORKER_NAME names it). */
  worker?: string;
  /** Keys scanned per second since the shard started. */
  rate: number;
  /** Seconds left at the current rate, when the total is known. */
  etaSeconds?: number;
  done: boolean;
}

/** Where a live sync is: loading the source's snapshot, applying its stream, cutting over, done. */
export type SyncPhase = 'snapshot' | 'streaming' | 'cutover' | 'done';

/** One source master of a live sync. */
export interface SyncShardProgress {
  shard: string;
  phase: SyncPhase;
  replid?: string;
  /** The replication offset applied in the cluster, and the source's. */
  appliedOffset?: number;
  sourceOffset?: number;
  lagBytes?: number;
  /** Estimated from the lag in bytes and the source's write rate. */
  lagSeconds?: number;
  /** Commands applied per second in the last chunk, and in all. */
  opsPerSecond?: number;
  opsApplied: number;
  /** Snapshots taken (the first, and each time the source could not continue from the offset). */
  fullResyncs: number;
  partialResyncs: number;
  /** Why the last snapshot was taken. */
  lastFullResync?: string;
  snapshotKeys?: number;
  /** The notifications method's last full pass: keys it wrote (after a gap, only those that differed). */
  snapshotWritten?: number;
  /** How long loading the last snapshot took, from its first byte; and how long the source took to start sending it. */
  snapshotSeconds?: number;
  snapshotWaitSeconds?: number;
  /** The source's repl-backlog-size: past this lag, the sync must take a new snapshot. */
  backlogBytes?: number;
  /** The notifications method: keys notified and not yet copied again, when the last chunk ended. */
  pendingKeys?: number;
  /** The node the stream was read from in the last chunk (it changes when a Sentinel source fails over). */
  streamedFrom?: string;
  /** The worker that ran the last chunk (its identity, pid@host unless RCO_WORKER_NAME names it). */
  worker?: string;
  /**
   * Set when that node is no longer a master: the node that takes the writes now (it failed over). The sync goes on
   * through the old master, now its replica; the cutover pauses the node named here.
   */
  writesGoTo?: string;
  warning?: string;
}

/** A node of either side as the preflight read it (src/model/servers.ts). */
export interface ServerDescription {
  node: string;
  engine: Engine;
  version: string;
  rdbVersion: number;
}

/** The servers of a migration: every source node and every target master. */
export interface MigrationServers {
  sources: ServerDescription[];
  targets: ServerDescription[];
}

export interface MigrationProgress {
  paused: boolean;
  /** The servers on both sides, read at the preflight. */
  servers?: MigrationServers;
  /** Current throttle (keys/s while copying, commands/s while streaming); undefined means unlimited. */
  keysPerSecond?: number;
  shards: ShardProgress[];
  mode?: 'snapshot' | 'live';
  /** Live mode: the slowest source master's phase. */
  phase?: SyncPhase;
  sync?: SyncShardProgress[];
}

/** The moveSlots step as it goes; pause, resume and throttle act between its bounded calls. */
/** A server's slot migration job as CLUSTER GETSLOTMIGRATIONS last showed it. */
export interface AtomicJobProgress {
  job: string;
  /** The owner's address and the new owner's spec id. */
  from: string;
  to: string;
  slots: number;
  /** The job's state (for example "snapshotting", "streaming", "handoff"). */
  state: string;
  /** Bytes of writes still to send to the new owner, where the server reports them. */
  remainingReplSize: number;
}

export interface SlotMovesProgress {
  paused: boolean;
  /** Keys per second; undefined: unlimited. */
  keysPerSecond?: number;
  slotsDone: number;
  /** Slots done and left, as the last call found them. */
  slotsTotal: number;
  keysMoved: number;
  /** Keys too big for a batch, sent on their own. */
  bigKeys: number;
  /** Moves the servers made in one job each (CLUSTER MIGRATESLOTS, Valkey 9+). */
  atomicJobs?: number;
  /** A server's job still running when the last call returned (the next call waits on for it). */
  atomicJob?: AtomicJobProgress;
  /** Moves that could have been atomic and went by the classic protocol, and why. */
  fallbacks?: string[];
}

export interface ProvisionProgress {
  cluster: string;
  /** Runs of this workflow so far: a long run continues as new to keep its history bounded. */
  runs?: number;
  currentStep?: StepName;
  steps: StepProgress[];
  /** Hosts whose worker has not picked up their node-local step yet (spec hostWorkers): the run waits for them. */
  waitingForHosts?: string[];
  /** A destructive step waits for the `approve` update (repair and failover runs). */
  waitingForApproval?: WaitingForApproval;
  migration?: MigrationProgress;
  /** Slots moving to the masters the spec names (step moveSlots). */
  slotMoves?: SlotMovesProgress;
}

/** The `cutover` update's input: how long writes may be held, and how much to verify first. */
export interface CutoverRequest {
  /** The longest write pause allowed on the source masters. @default 1000 */
  pauseBudgetMs?: number;
  /** Compare a sample of keys (migration.verify.sample per shard) or every key. @default "sample" */
  verify?: 'sample' | 'all';
  /**
   * The user stopped the writes to the sources and says so: the cutover holds nothing, for sources that do not allow
   * CLIENT PAUSE (managed services). @default false
   */
  writesStopped?: boolean;
}

/** The `cutover` update's answer. */
export interface CutoverReport {
  /** The sync stopped with the cluster holding every write the sources took up to the stop offsets. */
  done: boolean;
  /** Why it did not (the lag did not reach zero within the budget): the sync goes on. */
  reason?: string;
  /** How long the source masters held writes, from the first CLIENT PAUSE to the last CLIENT UNPAUSE. */
  writePauseMs: number;
  /** The nodes whose writes were held: each source's master at the cutover (after a failover, the new one). */
  paused?: string[];
  /** What the cutover showed before it answered done: how it knows the cluster holds every write. */
  guarantee?: string;
  /** Per source master: its offset at the pause and the offset the cluster had applied. */
  offsets: { shard: string; source: number; applied?: number }[];
  keysVerified: number;
  differences: { shard: string; key: string; reason: string }[];
  differencesNotListed: number;
}
