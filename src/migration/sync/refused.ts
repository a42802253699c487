/** What stops a sync: a command the cluster cannot take, named with its offset. */

/** A command the cluster cannot take, or refused when applied: the sync stops here, naming it and its offset. */
export class SyncRefused extends Error {
  override name = 'SyncRefused';
  constructor(
    readonly reason: string,
    readonly command: string,
    readonly offset: number,
  ) {
    super(`${command} at replication offset ${offset}: ${reason}`);
  }
}

/** A command for messages: its name upper-case, its first arguments shortened. */
export const text = (command: Buffer[]) =>
  command
    .slice(0, 3)
    .map((a, i) => (i === 0 ? a.toString('latin1').toUpperCase() : a.toString('latin1').slice(0, 40)))
    .join(' ') + (command.length > 3 ? ' ...' : '');
