/**
 * The ACL rules a migration source's user needs, per mode: what README "Least privileges" lists and what the tests
 * give their source users, no more. Pure data, shared by the docs' tests and the refusal messages.
 */

/**
 * Reading every key, its type, value, expiry and payload, in every database: a snapshot copy through the worker (no
 * CLIENT subcommand but the pause of a cutover: @connection would grant CLIENT KILL too). A
 * comparison reads a key's value and expiry in one MULTI/EXEC, so that both are of one moment.
 */
const READ = ['~*', '+@read', '+ping', '+command|info', '+info', '+select', '+dump', '+multi', '+exec'];

export const SOURCE_ACL_RULES = {
  /** mode "snapshot": SCAN, TYPE, DUMP, PTTL and the reads of verify; MIGRATE is the faster way where it may run. */
  snapshot: [...READ, '+migrate'],
  /** mode "snapshot" with nothing that writes anywhere: the copy goes through the worker (DUMP, then RESTORE). */
  snapshotReadOnly: READ,
  /** mode "live" (PSYNC): a replica's commands, the cutover's write pause, and the reads of verify. */
  live: [...READ, '+psync', '+replconf', '+sync', '+client|pause', '+client|unpause'],
  /**
   * mode "live", liveMethod "notifications": the reads, the subscription to the key events of database 0 (one
   * `&__keyevent@<db>__:*` per mapped database: PSUBSCRIBE wants its pattern listed as it is), and the cutover's pause.
   */
  notifications: [...READ, '&__keyevent@0__:*', '+psubscribe', '+client|pause', '+client|unpause'],
  /** A cluster source adds this to either mode: its masters are read from CLUSTER NODES. */
  cluster: ['+cluster|nodes'],
} as const;

/** The rules of one mode as one ACL SETUSER line. */
export const aclRulesText = (rules: readonly string[]): string => rules.join(' ');
