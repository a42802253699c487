/** Ports the kernel may hand to outgoing connections, and who holds a port (read from this machine's /proc). */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { asPortList, parsePortRange, parseReservedPorts, portHolders, portsAtRisk } from '../../src/host/ports';

test('the runbook ports inside the default ephemeral range, minus the reserved ones; the reservation text', () => {
  const range = parsePortRange('32768\t60999\n');
  expect(range).toEqual({ low: 32768, high: 60999 });
  const runbook = [50001, 50002, 50003, 50004, 60001, 60002, 60003, 60004, 6379, 16379];
  expect(portsAtRisk(runbook, range, [])).toEqual([50001, 50002, 50003, 50004, 60001, 60002, 60003, 60004]);
  const reserved = parseReservedPorts('50001-50003,60004\n');
  expect(reserved).toEqual([
    { low: 50001, high: 50003 },
    { low: 60004, high: 60004 },
  ]);
  expect(portsAtRisk(runbook, range, reserved)).toEqual([50004, 60001, 60002, 60003]);
  expect(parseReservedPorts('\n')).toEqual([]);
  expect(asPortList([60003, 50004, 60001, 60002])).toBe('50004,60001-60003');
});

test('the holder of a port: its socket, its state and peer, and the pid that has it open', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => client.once('connect', resolve));
  try {
    const listening = await portHolders(port);
    expect(listening).toEqual(
      expect.arrayContaining([`127.0.0.1:${port} (LISTEN), held by pid ${process.pid} (${processName()})`]),
    );
    const outgoing = await portHolders(client.localPort!);
    expect(outgoing).toEqual([
      `127.0.0.1:${client.localPort} (ESTABLISHED to 127.0.0.1:${port}), held by pid ${process.pid} (${processName()})`,
    ]);
  } finally {
    client.destroy();
    server.close();
  }
  expect(await portHolders(1)).toEqual([]);
});

const processName = () => readFileSync('/proc/self/comm', 'utf8').trim();
