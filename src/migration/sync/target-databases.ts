/** Commands into target databases other than 0 (migration.source.databases with a `db`, Valkey 9+ targets). */

/**
 * A slot's commands for a MULTI, each in its target database: a SELECT where the database changes, and SELECT 0 at
 * the end (the slot's stamp, and the connection's next use, are in db 0). `added`: the positions of those SELECTs.
 */
export function inDatabases(pending: { db: number; command: Buffer[] }[]): {
  commands: Buffer[][];
  added: Set<number>;
} {
  const commands: Buffer[][] = [];
  const added = new Set<number>();
  const select = (db: number) => (
    added.add(commands.length),
    commands.push([Buffer.from('SELECT'), Buffer.from(String(db))])
  );
  let db = 0;
  for (const p of pending) {
    if (p.db !== db) select((db = p.db));
    commands.push(p.command);
  }
  if (db !== 0) select(0);
  return { commands, added };
}
