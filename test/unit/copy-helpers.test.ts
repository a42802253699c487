import { formatPosition, parsePosition } from '../../src/migration/checkpoint';
import { slicesByBytes } from '../../src/migration/batches';

describe('slicesByBytes', () => {
  const items = (...sizes: number[]) => sizes.map((bytes, i) => ({ bytes, i }));

  it('keeps every slice within the byte bound, in order, losing nothing', () => {
    const slices = slicesByBytes(items(4, 4, 4, 1, 7, 2), 8);
    expect(slices.map((s) => s.map((x) => x.bytes))).toEqual([[4, 4], [4, 1], [7], [2]]);
    expect(slices.flat().map((x) => x.i)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('gives an item larger than the bound a slice of its own', () => {
    expect(slicesByBytes(items(1, 20, 1), 8).map((s) => s.length)).toEqual([1, 1, 1]);
  });

  it('returns no slice for no items', () => {
    expect(slicesByBytes([], 8)).toEqual([]);
  });
});

describe('scan positions', () => {
  it('round-trips cursor, source run_id and the rescan flag', () => {
    for (const position of [
      { cursor: '46251', runId: 'a1b2', rescan: false },
      { cursor: '0', runId: 'a1b2', rescan: true },
    ])
      expect(parsePosition(formatPosition(position))).toEqual(position);
  });

  it('reads a bare cursor (the workflow starts with "0") as one without a run_id', () => {
    expect(parsePosition('0')).toEqual({ cursor: '0', runId: undefined, rescan: false });
    expect(formatPosition({ cursor: '17', rescan: false })).toBe('17');
  });
});
