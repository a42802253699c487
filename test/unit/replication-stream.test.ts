import { ReplicationStream, StreamError } from '../../src/migration/sync/stream';

const resp = (...commands: string[][]) =>
  Buffer.from(
    commands.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''),
  );

test('commands with the offset after each, across any chunk boundary', () => {
  const bytes = resp(['SELECT', '0'], ['SET', 'k', 'v'], ['PING'], ['SET', 'big', 'x'.repeat(10_000)]);
  for (const size of [bytes.length, 100, 7, 1]) {
    const stream = new ReplicationStream(1000);
    const got = [];
    for (let i = 0; i < bytes.length; i += size) got.push(...stream.push(bytes.subarray(i, i + size)));
    expect(got.map((c) => c.args.map(String)[0])).toEqual(['SELECT', 'SET', 'PING', 'SET']);
    expect(got[1]!.args.map(String)).toEqual(['SET', 'k', 'v']);
    expect(got[3]!.args[2]!.length).toBe(10_000);
    const sizes = [resp(['SELECT', '0']), resp(['SET', 'k', 'v']), resp(['PING'])].map((b) => b.length);
    expect(got[0]!.end).toBe(1000 + sizes[0]!);
    expect(got[2]!.end).toBe(1000 + sizes[0]! + sizes[1]! + sizes[2]!);
    expect(got[3]!.end).toBe(1000 + bytes.length);
    expect(stream.position).toBe(1000 + bytes.length);
  }
});

test('binary arguments stay bytes', () => {
  const key = Buffer.from([0xff, 0x00, 0x0d, 0x0a]);
  const bytes = Buffer.concat([Buffer.from('*2\r\n$3\r\nDEL\r\n$4\r\n'), key, Buffer.from('\r\n')]);
  const [command] = new ReplicationStream(0).push(bytes);
  expect(command!.args[1]).toEqual(key);
});

test('anything but RESP arrays stops the stream', () => {
  expect(() => new ReplicationStream(0).push(Buffer.from('+OK\r\n'))).toThrow(StreamError);
});
