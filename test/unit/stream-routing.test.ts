/** Routing stream commands into a cluster: keys, slots, prefixes, splits and refusals. No server. */
import { inDatabases } from '../../src/migration/sync/target-databases';
import calculateSlot from 'cluster-key-slot';
import { type CommandTable, commandTable, keyPositions, routeCommand } from '../../src/migration/sync/commands';

// The shape of a Redis 7.0 `COMMAND` reply, for the commands used here.
const table: CommandTable = commandTable([
  ['set', -3, ['write'], 1, 1, 1, [], [], [], []],
  ['del', -2, ['write'], 1, -1, 1, [], [], [], []],
  ['mset', -3, ['write'], 1, -1, 2, [], [], [], []],
  ['msetnx', -3, ['write'], 1, -1, 2, [], [], [], []],
  ['rename', 3, ['write'], 1, 2, 1, [], [], [], []],
  ['pexpireat', -3, ['write'], 1, 1, 1, [], [], [], []],
  ['zunionstore', -4, ['write', 'movablekeys'], 1, 1, 1, [], [], [], []],
  ['sort', -2, ['write', 'movablekeys'], 1, 1, 1, [], [], [], []],
  ['xgroup', -2, [], 0, 0, 0, [], [], [], [['xgroup|create', -5, ['write'], 2, 2, 1, [], [], [], []]]],
]);
const b = (...words: string[]) => words.map((w) => Buffer.from(w));
const text = (command: Buffer[]) => command.map(String).join(' ');

test('key positions from the table, and for commands whose keys move', () => {
  expect(keyPositions(table, b('MSET', 'a', '1', 'b', '2'))).toEqual([1, 3]);
  expect(keyPositions(table, b('RENAME', 'a', 'b'))).toEqual([1, 2]);
  expect(keyPositions(table, b('XGROUP', 'CREATE', 's', 'g', '$'))).toEqual([2]);
  expect(keyPositions(table, b('ZUNIONSTORE', 'd', '2', 'x', 'y', 'WEIGHTS', '1', '2'))).toEqual([1, 3, 4]);
  expect(keyPositions(table, b('SORT', 'l', 'ALPHA', 'STORE', 'out'))).toEqual([1, 4]);
  expect(keyPositions(table, b('NOSUCH', 'x'))).toBeUndefined();
});

test('one slot: the command as it is, keys prefixed for a mapped database', () => {
  expect(routeCommand(table, b('SET', 'k', 'v'), undefined)).toEqual({
    kind: 'slots',
    parts: [{ slot: calculateSlot('k'), command: b('SET', 'k', 'v') }],
  });
  const route = routeCommand(table, b('RENAME', '{u}a', '{u}b'), Buffer.from('db1:'));
  expect(route.kind).toBe('slots');
  if (route.kind === 'slots') expect(route.parts.map((p) => text(p.command))).toEqual(['RENAME db1:{u}a db1:{u}b']);
  const group = routeCommand(table, b('XGROUP', 'CREATE', 's', 'g', '$'), Buffer.from('p:'));
  if (group.kind === 'slots') expect(text(group.parts[0]!.command)).toBe('XGROUP CREATE p:s g $');
});

test('DEL, UNLINK and MSET across slots are split by slot; MSETNX (propagated only when it set all) becomes MSET', () => {
  const route = routeCommand(table, b('MSETNX', 'a', '1', 'b', '2', 'c', '3'), undefined);
  expect(route.kind).toBe('slots');
  if (route.kind !== 'slots') return;
  expect(route.parts.map((p) => text(p.command)).sort()).toEqual(['MSET a 1', 'MSET b 2', 'MSET c 3']);
  expect(route.parts.every((p) => p.slot === calculateSlot(p.command[1]!))).toBe(true);
});

test('what a cluster cannot take is refused, with the reason', () => {
  const reason = (...words: string[]) => {
    const route = routeCommand(table, b(...words), undefined);
    return route.kind === 'refuse' ? route.reason : route.kind;
  };
  expect(reason('FLUSHALL')).toContain('FLUSHALL would empty the cluster');
  expect(reason('FLUSHDB', 'ASYNC')).toContain('FLUSHDB would empty the cluster');
  expect(reason('SWAPDB', '0', '1')).toContain('between databases');
  expect(reason('RENAME', 'a', 'b')).toContain('RENAME names keys in different slots (cross-slot)');
  expect(reason('FUNCTION', 'FLUSH')).toContain('FUNCTION FLUSH');
  expect(reason('MODULE.CMD', 'x')).toContain('MODULE.CMD is not a command the cluster knows');
  expect(reason('PING')).toBe('skip');
  expect(reason('PUBLISH', 'ch', 'hello')).toBe('skip');
  expect(routeCommand(table, b('SELECT', '3'), undefined)).toEqual({ kind: 'select', db: 3 });
  expect(routeCommand(table, b('FUNCTION', 'LOAD', 'code'), undefined).kind).toBe('every-master');
});

test('a slot transaction into target databases: SELECT where the database changes, back to db 0 at the end', () => {
  const cmd = (...args: string[]) => args.map((a) => Buffer.from(a));
  const text = (commands: Buffer[][]) => commands.map((c) => c.map(String).join(' '));
  const inDb0 = inDatabases([{ db: 0, command: cmd('SET', 'a', '1') }]);
  expect(text(inDb0.commands)).toEqual(['SET a 1']);
  expect(inDb0.added.size).toBe(0);
  const mixed = inDatabases([
    { db: 2, command: cmd('SET', 'a', '1') },
    { db: 2, command: cmd('DEL', 'b') },
    { db: 0, command: cmd('INCR', 'c') },
    { db: 3, command: cmd('HSET', 'd', 'f', 'v') },
  ]);
  expect(text(mixed.commands)).toEqual([
    'SELECT 2',
    'SET a 1',
    'DEL b',
    'SELECT 0',
    'INCR c',
    'SELECT 3',
    'HSET d f v',
    'SELECT 0',
  ]);
  expect([...mixed.added]).toEqual([0, 3, 5, 7]);
});
