/** Reading CLUSTER GETSLOTMIGRATIONS (Valkey 9.1.2's reply, as recorded) and finding a move's job in it. No server. */
import { findJob, parseSlotMigrations, rangesText } from '../../src/cluster/atomic-moves';

const job = (name: string, ranges: string, target: string, state: string, created: number) => [
  'name',
  name,
  'operation',
  'EXPORT',
  'slot_ranges',
  ranges,
  'target_node',
  target,
  'source_node',
  'ca91edb6e9a77c80bd1912633e6c470ba5451b3d',
  'create_time',
  created,
  'last_update_time',
  created,
  'last_ack_time',
  created,
  'state',
  state,
  'message',
  '',
  'cow_size',
  0,
  'remaining_repl_size',
  0,
];

test('ranges are written as the server lists them', () => {
  expect(
    rangesText([
      [9200, 9300],
      [9400, 9500],
      [9600, 9600],
    ]),
  ).toBe('9200-9300 9400-9500 9600-9600');
});

test('a move finds its own job: same ranges and new owner, running or the newest', () => {
  const reply = [
    job('c3', '0-8000', 'node-b', 'snapshotting', 300),
    job('b2', '0-8000', 'node-b', 'failed', 200),
    job('a1', '0-8000', 'node-c', 'success', 100),
    ['name', 'i9', 'operation', 'IMPORT', 'slot_ranges', '0-8000', 'target_node', 'node-b', 'state', 'success'],
  ];
  const jobs = parseSlotMigrations(reply);
  expect(jobs[0]).toMatchObject({ name: 'c3', operation: 'EXPORT', slotRanges: '0-8000', state: 'snapshotting' });
  expect(findJob(jobs, [[0, 8000]], 'node-b', true)?.name).toBe('c3');
  // A job that ended is not waited for; asked for any, the newest of this move.
  expect(findJob(jobs.slice(1), [[0, 8000]], 'node-b', true)).toBeUndefined();
  expect(findJob(jobs.slice(1), [[0, 8000]], 'node-b', false)?.name).toBe('b2');
  // Another new owner, other ranges, or an import: not this move's.
  expect(findJob(jobs, [[0, 8000]], 'node-d', false)).toBeUndefined();
  expect(findJob(jobs, [[0, 7999]], 'node-b', false)).toBeUndefined();
});
