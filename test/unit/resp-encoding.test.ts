import { encodeCommands } from '../../src/redis/bulk';

/** RESP as the protocol spells it, one string at a time: the reference the fast encoder must match byte for byte. */
function reference(commands: (string | Buffer | number)[][]): Buffer {
  const parts: Buffer[] = [];
  for (const command of commands) {
    parts.push(Buffer.from(`*${command.length}\r\n`));
    for (const arg of command) {
      const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8');
      parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
    }
  }
  return Buffer.concat(parts);
}

test('commands encoded as RESP: short and long arguments, lengths at every digit boundary, non-ASCII text, numbers', () => {
  const lengths = [0, 1, 9, 10, 47, 48, 49, 99, 100, 999, 1000, 9999, 10000, 100000];
  const commands: (string | Buffer | number)[][] = [
    ['PING'],
    [],
    ['SET', 'ключ', 'värde 🔑', 'EX', 10],
    ['RESTORE', Buffer.from([0, 255, 13, 10]), '0', Buffer.alloc(0), 'REPLACE', 'ABSTTL'],
    ...lengths.map((n) => ['SET', Buffer.alloc(n, 0xab), 'x'.repeat(n), 'é'.repeat(n), -n, n * 1.5]),
    Array.from({ length: 12 }, (_, i) => `arg${i}`),
  ];
  const encoded = encodeCommands(commands);
  expect(encoded.equals(reference(commands))).toBe(true);
  expect(encodeCommands([]).length).toBe(0);
});
