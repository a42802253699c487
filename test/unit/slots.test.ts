import {
  countSlots,
  describeRanges,
  intersectRanges,
  mergeRanges,
  parseSlotRange,
  rangesFromSlots,
  sameRanges,
  subtractRanges,
} from '../../src/model';

test('parse', () => {
  expect(parseSlotRange('0-4095')).toEqual([0, 4095]);
  expect(parseSlotRange(' 42 ')).toEqual([42, 42]);
  expect(() => parseSlotRange('16384')).toThrow('past the last slot 16383');
  expect(() => parseSlotRange('a-b')).toThrow('is not a slot or slot range');
});

test('merge, subtract, intersect, count', () => {
  expect(
    mergeRanges([
      [10, 20],
      [0, 9],
      [30, 40],
      [35, 50],
    ]),
  ).toEqual([
    [0, 20],
    [30, 50],
  ]);
  expect(
    subtractRanges(
      [[0, 100]],
      [
        [10, 20],
        [50, 200],
      ],
    ),
  ).toEqual([
    [0, 9],
    [21, 49],
  ]);
  expect(subtractRanges([[0, 10]], [[0, 10]])).toEqual([]);
  expect(
    intersectRanges(
      [[0, 100]],
      [
        [90, 200],
        [5, 6],
      ],
    ),
  ).toEqual([
    [5, 6],
    [90, 100],
  ]);
  expect(
    countSlots([
      [0, 4095],
      [4096, 8191],
    ]),
  ).toBe(8192);
  expect(rangesFromSlots([5, 1, 2, 3, 7])).toEqual([
    [1, 3],
    [5, 5],
    [7, 7],
  ]);
  expect(
    sameRanges(
      [
        [0, 5],
        [6, 9],
      ],
      [[0, 9]],
    ),
  ).toBe(true);
  expect(
    describeRanges([
      [0, 0],
      [2, 3],
    ]),
  ).toBe('0, 2-3');
  expect(describeRanges([])).toBe('(none)');
});
