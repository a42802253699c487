import { slicesByBytes } from '../../src/activities/migration';

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
