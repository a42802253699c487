import { type WriteStamp, describeSourceChanges, sourceChange } from '../../src/model';

const stamp = (over: Partial<WriteStamp> = {}): WriteStamp => ({
  node: '10.0.0.5:6379',
  runId: 'a',
  replOffset: 0,
  dirty: 100,
  saves: 0,
  expired: 0,
  evicted: 0,
  ...over,
});

test('no writes: nothing to say', () => {
  expect(sourceChange(stamp(), stamp())).toBeUndefined();
  expect(describeSourceChanges([])).toBeUndefined();
});

test('writes are counted from the dirty counter, without the expiries and evictions it also counts', () => {
  expect(sourceChange(stamp(), stamp({ dirty: 150, expired: 7, evicted: 3 }))).toEqual({
    node: '10.0.0.5:6379',
    writes: 40,
    restarted: false,
    replicationBytes: 0,
  });
  expect(sourceChange(stamp(), stamp({ dirty: 110, expired: 10 }))).toBeUndefined(); // only expiries
});

test('a save resets the dirty counter: writes become unknown, unless nothing was written since', () => {
  expect(sourceChange(stamp(), stamp({ saves: 1, dirty: 5 }))).toMatchObject({ writes: undefined });
  expect(sourceChange(stamp(), stamp({ saves: 1, dirty: 0 }))).toBeUndefined();
  expect(sourceChange(stamp(), stamp({ saves: 1, dirty: 0, replOffset: 900 }))).toMatchObject({
    replicationBytes: 900,
  });
});

test('a restart is named as such, and the report sentence says what happened and what to do', () => {
  const change = sourceChange(stamp(), stamp({ runId: 'b' }))!;
  expect(change.restarted).toBe(true);
  const sentence = describeSourceChanges(
    [change, sourceChange(stamp(), stamp({ dirty: 130 }))!],
    'while it was verified',
  );
  expect(sentence).toContain(
    'the source changed while it was verified: 10.0.0.5:6379 restarted, 10.0.0.5:6379 took 30 write(s)',
  );
  expect(sentence).toContain('stop writes to the source');
});
