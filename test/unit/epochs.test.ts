/** Which epochs a cluster must show: exact when only ever created, agreeing and at least the spec's once moved on. */
import { epochExpectation } from '../../src/cluster/epochs';
import { localSeedSpec } from '../../src/local/seed';

const spec = localSeedSpec({
  stateDir: '/tmp/rco-epochs',
  s3Endpoint: 'http://127.0.0.1:1',
  portOffset: 0,
  name: 'epochs',
});

test('a cluster only ever created: the exact epochs of the spec', () => {
  expect(epochExpectation(spec, [1, 2, 3, 4])).toEqual({ exact: true, floor: 4 });
});

test('a recorded change: agreeing epochs, at least the spec, the change named', () => {
  const record = { last: 'repair by redis-cluster-epochs-repair at 2026-11-29T21:00:00Z, currentEpoch 6' };
  expect(epochExpectation(spec, [1, 6, 3, 4], record)).toEqual({ exact: false, floor: 4, movedBy: record.last });
});

test('a change before records (or by hand): seen from a master past the spec, and named so', () => {
  const expectation = epochExpectation(spec, [5, 2, 3, 6]);
  expect(expectation.exact).toBe(false);
  expect(expectation.movedBy).toMatch(/left no record \(master configEpochs 2, 3, 5, 6\)/);
});
