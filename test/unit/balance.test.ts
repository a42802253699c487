/** Slot layouts balanced by a measure: even shares, slots moved only between neighbours, the transfers named. */
import { SLOT_COUNT, balanceSlots, spread } from '../../src/model';

const runbook = [
  { id: 'm1', ranges: [[0, 4095]] as [number, number][] },
  { id: 'm2', ranges: [[4096, 8191]] as [number, number][] },
  { id: 'm3', ranges: [[8192, 12287]] as [number, number][] },
  { id: 'm4', ranges: [[12288, 16383]] as [number, number][] },
];

test('even keys: the layout stays as it is, nothing moves', () => {
  const plan = balanceSlots(runbook, Array(SLOT_COUNT).fill(10));
  expect(plan.masters.map((m) => m.ranges)).toEqual(runbook.map((m) => m.ranges));
  expect(plan.transfers).toEqual([]);
});

test('one master with three times the keys and a few hot slots: shares within 5%, only boundary slots move', () => {
  const weights: number[] = Array.from({ length: SLOT_COUNT }, (_, s) => (s < 4096 ? 30 : 10));
  for (const hot of [100, 5000, 9000]) weights[hot] = 2000;
  const plan = balanceSlots(runbook, weights);
  const before = plan.masters.map((m) => m.before);
  const after = plan.masters.map((m) => m.after);
  expect(spread(before)).toBeGreaterThan(1.5);
  expect(spread(after)).toBeLessThan(0.05);
  expect(after.reduce((a, b) => a + b)).toBe(plan.total);
  // Contiguous, in the same order, covering every slot once.
  const ranges = plan.masters.flatMap((m) => m.ranges);
  expect(ranges[0]![0]).toBe(0);
  expect(ranges[3]![1]).toBe(SLOT_COUNT - 1);
  for (let i = 1; i < 4; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
  // m1 gives slots to m2 only; every transfer is between neighbours, its slots and keys counted.
  expect(plan.transfers.every((t) => Math.abs(Number(t.from[1]) - Number(t.to[1])) === 1)).toBe(true);
  const out = plan.masters.reduce((sum, m) => sum + m.slotsOut, 0);
  expect(plan.transfers.reduce((sum, t) => sum + t.slots, 0)).toBe(out);
  expect(plan.transfers.find((t) => t.from === 'm1')).toMatchObject({ to: 'm2' });
});

test('nothing measured: the boundaries stay where they are', () => {
  const plan = balanceSlots(runbook, Array(SLOT_COUNT).fill(0));
  expect(plan.transfers).toEqual([]);
});
