/**
 * The one list of business failure types. Activities throw `ApplicationFailure`s with these types, the
 * workflow marks them non-retryable, and users can match on them. Kept here (pure) so that workflow,
 * activities, client and CLI share it.
 */
export const ErrorType = {
  /** The cluster spec is malformed or inconsistent (slots, ids, ports, replica mapping). */
  InvalidSpec: 'InvalidSpec',
  /** A node's config source does not exist (S3 object or file missing). */
  ConfigNotFound: 'ConfigNotFound',
  /** A node's config exists but contradicts the spec (port, cluster-enabled, ...). */
  ConfigInvalid: 'ConfigInvalid',
  /** Something that is not Redis answers on a node's port. */
  PortNotRedis: 'PortNotRedis',
  /** The cluster bus port (port + 10000) of a node to start is held by another process. */
  BusPortInUse: 'BusPortInUse',
  /** A Redis on a node's port runs without cluster support. */
  NodeNotClusterEnabled: 'NodeNotClusterEnabled',
  /** A node that is not yet part of this cluster holds keys. */
  NodeNotEmpty: 'NodeNotEmpty',
  /** A node knows nodes that are not in the spec: it belongs to another cluster. */
  NodeInOtherCluster: 'NodeInOtherCluster',
  /** A slot the spec gives to one master is owned by another node. */
  SlotConflict: 'SlotConflict',
  /** A replica's place in the live cluster contradicts the spec in a way we do not repair. */
  TopologyConflict: 'TopologyConflict',
  /** redis-server would not start (bad config, missing binary, ...). */
  NodeStartFailed: 'NodeStartFailed',
  /** The finished cluster does not match the spec. */
  VerifyFailed: 'VerifyFailed',
  /** A cluster node refuses the credentials of the spec's `auth`, or its config lacks them. */
  NodeAuthFailed: 'NodeAuthFailed',
  /** A TLS file the spec names cannot be read on the worker. */
  TlsFilesUnreadable: 'TlsFilesUnreadable',
  /** The migration source cannot be reached. */
  SourceUnreachable: 'SourceUnreachable',
  /** The source refuses the credentials. */
  SourceAuthFailed: 'SourceAuthFailed',
  /**
   * The source does not allow what a live sync needs (PSYNC, SYNC or REPLCONF disabled, renamed or not permitted), or
   * fails its own snapshot for us the same way twice. Names the way out: snapshot mode, or the permission to grant.
   */
  SourceCannotReplicate: 'SourceCannotReplicate',
  /** A live source is a replica: its cutover would hold the wrong node's writes. Names its master. */
  SourceNotMaster: 'SourceNotMaster',
  /** The source has keys in a database the spec does not map into the cluster. */
  SourceDbNotMapped: 'SourceDbNotMapped',
  /** Some target slot has no owner: keys for it could not be written. */
  TargetSlotsUncovered: 'TargetSlotsUncovered',
  /** A key exists in the target and the conflict policy is "fail". */
  KeyConflict: 'KeyConflict',
  /** The data in the target still differs from the source after copying again. */
  DataVerifyFailed: 'DataVerifyFailed',
  /**
   * A live sync met what the cluster cannot take as it is (FLUSHALL, a cross-slot command, an unmapped database, a
   * module type) or what it refused: the sync stops there, naming the command and its offset; nothing is flushed.
   */
  SyncStopped: 'SyncStopped',
  /**
   * A takeover was asked for a master that answers, or that most other masters do not flag `fail`: a master that
   * answers is never taken over.
   */
  TakeoverRefused: 'TakeoverRefused',
  /**
   * A node is down with no cluster state left (it lost its data) while the cluster still knows it: provisioning does
   * not start it empty (its replicas could resync from nothing); a repair does, once its old identity is gone.
   */
  NodeLostData: 'NodeLostData',
  /**
   * A source key the target cannot hold as it is: a module type, hash field expirations on a target without HEXPIRE
   * (unless migration.dropHashFieldTtls), a value its RDB version cannot express. Names the source, its server, the
   * key and the reason.
   */
  UnsupportedData: 'UnsupportedData',
  /** A master and every replica of it are gone: its slots' data can only come from a backup. */
  SlotsLost: 'SlotsLost',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** Failure types that no retry can fix: the workflow gives up on them at once. */
export const NON_RETRYABLE_ERROR_TYPES: ErrorTypeName[] = Object.values(ErrorType);
