import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  checkNodeConfig,
  confFacts,
  confValue,
  parseClusterSpec,
  parseRedisConf,
  renderNodeConf,
} from '../../src/model';

const seedSpec = () =>
  JSON.parse(readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8')) as object;

test('parse: comments, quotes, last value wins, slave-* aliases', () => {
  const text = [
    '# a comment',
    'port 6379',
    'port 50001',
    'dir "/var/lib/redis data"',
    "logfile ''",
    'cluster-enabled yes',
    'cluster-slave-no-failover yes',
    '   save 900 1',
  ].join('\n');
  const directives = parseRedisConf(text);
  expect(confValue(directives, 'port')).toBe('50001');
  expect(confValue(directives, 'dir')).toBe('/var/lib/redis data');
  expect(confValue(directives, 'logfile')).toBe('');
  expect(confValue(directives, 'save')).toBe('900 1');
  const facts = confFacts(text);
  expect(facts).toMatchObject({ port: 50001, clusterEnabled: true, replicaNoFailover: true, daemonize: false });
  expect(() => parseRedisConf('dir "/unterminated')).toThrow('line 1: unbalanced quotes');
});

test('render then parse: what the checks look for is there', () => {
  const text = renderNodeConf({ port: 50005, bind: '127.0.0.1', dataDir: '/d/50005', replica: true, nofailover: true });
  expect(confFacts(text)).toMatchObject({
    port: 50005,
    clusterEnabled: true,
    replicaNoFailover: true,
    dir: '/d/50005',
    clusterConfigFile: 'nodes-50005.conf',
    daemonize: true,
    pidfile: '/d/50005/redis-50005.pid',
  });
  const master = renderNodeConf({ port: 50001, bind: '127.0.0.1', dataDir: '/d', replica: false, nofailover: true });
  expect(confFacts(master).replicaNoFailover).toBe(false);
});

test('numbered databases: rendered above 1, and a config holding fewer than the spec asks for is refused', () => {
  const options = { port: 50001, bind: '127.0.0.1', dataDir: '/d', replica: false, nofailover: true };
  expect(renderNodeConf(options)).not.toContain('cluster-databases');
  const text = renderNodeConf({ ...options, clusterDatabases: 4 });
  expect(confFacts(text).clusterDatabases).toBe(4);
  const spec = parseClusterSpec({ ...seedSpec(), clusterDatabases: 4 });
  const node = spec.nodes[0]!;
  expect(checkNodeConfig(spec, node, text.replace(/^port .*$/m, `port ${node.port}`)).errors).toEqual([]);
  expect(checkNodeConfig(spec, node, renderNodeConf({ ...options, port: node.port })).errors).toEqual([
    `m1 (172.31.20.83:50001): config ${node.config} has cluster-databases 1, but the spec's clusterDatabases asks for 4`,
  ]);
});

test('render with credentials: requirepass, masterauth, the ACL user and masteruser, quotes escaped', () => {
  const password = 'p w"x\\y';
  const text = renderNodeConf({
    port: 7000,
    bind: '127.0.0.1',
    dataDir: '/tmp/x',
    replica: true,
    nofailover: true,
    auth: { username: 'rco', password },
  });
  const directives = parseRedisConf(text);
  expect(confValue(directives, 'requirepass')).toBe(password);
  expect(confValue(directives, 'masterauth')).toBe(password);
  expect(confValue(directives, 'masteruser')).toBe('rco');
  expect(directives.find((d) => d.name === 'user')?.args).toEqual(['rco', 'on', `>${password}`, '~*', '&*', '+@all']);
  const facts = confFacts(text);
  expect(facts).toMatchObject({ requirepassSet: true, masterauthSet: true, aclUsers: ['rco'] });
});

test('render for TLS: the plain port closed, tls-port, certificate files, TLS on the bus and for replication', () => {
  const text = renderNodeConf({
    port: 7000,
    bind: '127.0.0.1',
    dataDir: '/tmp/x',
    replica: false,
    nofailover: true,
    tls: { caFile: '/c/ca.crt', certFile: '/c/n.crt', keyFile: '/c/n.key', cluster: true, replication: true },
  });
  expect(confFacts(text)).toMatchObject({ port: 0, tlsPort: 7000, tlsCluster: true, tlsReplication: true });
  expect(confValue(parseRedisConf(text), 'tls-key-file')).toBe('/c/n.key');
});

test('render with an admin address: bound too, the node address announced', () => {
  const directives = parseRedisConf(
    renderNodeConf({
      port: 7000,
      bind: '172.31.20.83',
      adminHost: '10.0.143.154',
      dataDir: '/tmp/x',
      replica: false,
      nofailover: true,
    }),
  );
  expect(confValue(directives, 'bind')).toBe('172.31.20.83 10.0.143.154');
  expect(confValue(directives, 'cluster-announce-ip')).toBe('172.31.20.83');
});
