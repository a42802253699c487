import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ClusterSpecInput,
  SpecError,
  configFileName,
  expectedCurrentEpoch,
  localizeSpec,
  parseClusterSpec,
  parseSpecText,
  workflowIdFor,
} from '../../src/model';

const seedText = readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8');
const seed = (): ClusterSpecInput => JSON.parse(seedText) as ClusterSpecInput;

function problemsOf(input: unknown): string[] {
  try {
    parseClusterSpec(input);
  } catch (err) {
    if (err instanceof SpecError) return err.problems;
    throw err;
  }
  return [];
}

describe('the seed spec', () => {
  test('is the runbook: 4 masters with the four quarters, the explicit replica mapping, nofailover', () => {
    const spec = parseClusterSpec(seed());
    expect(spec.nodes.map((n) => `${n.port}:${n.role}:${n.slots?.join(',') ?? n.replicaOf}`)).toEqual([
      '50001:master:0-4095',
      '50002:master:4096-8191',
      '50003:master:8192-12287',
      '50004:master:12288-16383',
      '50005:replica:m3',
      '50006:replica:m1',
      '50007:replica:m4',
      '50008:replica:m2',
    ]);
    expect(spec.nofailover).toBe(true);
    expect(expectedCurrentEpoch(spec)).toBe(4);
    expect(spec.nodes.every((n) => n.host === '172.31.20.83')).toBe(true);
    expect(spec.nodes[0]!.config).toBe('s3://quotemedia-backups/my-redis/redis-master-01.conf');
    expect(configFileName(spec.nodes[4]!)).toBe('redis-replica-01.conf');
    expect(workflowIdFor(spec)).toBe('redis-cluster-my-redis');
  });

  test('YAML and JSON read the same', () => {
    const yaml = `name: my-redis\nconfigDir: /etc/redis\nnodes:\n${seed()
      .nodes.map(
        (n) =>
          `  - id: ${n.id}\n    host: ${n.host}\n    port: ${n.port}\n    role: ${n.role}\n    config: ${n.config}\n` +
          (n.slots ? `    slots: ["${n.slots[0]}"]\n` : `    replicaOf: ${n.replicaOf}\n`),
      )
      .join('')}`;
    const fromYaml = parseSpecText(yaml);
    const fromJson = parseSpecText(seedText);
    expect(fromYaml.nodes.map((n) => [n.port, n.slots, n.replicaOf])).toEqual(
      fromJson.nodes.map((n) => [n.port, n.slots, n.replicaOf]),
    );
  });

  test('localized: hosts to 127.0.0.1, a local S3 endpoint with path-style, a local config dir, ports shifted', () => {
    const spec = localizeSpec(seed(), {
      configDir: '/tmp/x/etc',
      s3Endpoint: 'http://127.0.0.1:8333',
      portOffset: 100,
    });
    expect(spec.nodes.map((n) => `${n.host}:${n.port}`)[0]).toBe('127.0.0.1:50101');
    expect(spec.nodes.every((n) => n.adminHost === undefined)).toBe(true);
    expect(spec.s3).toMatchObject({ endpoint: 'http://127.0.0.1:8333', forcePathStyle: true });
    expect(spec.configDir).toBe('/tmp/x/etc');
  });
});

describe('validation names the field or node and the problem', () => {
  const withNodes = (change: (nodes: ClusterSpecInput['nodes']) => void) => {
    const spec = seed();
    change(spec.nodes);
    return spec;
  };

  test('overlapping slots', () => {
    expect(problemsOf(withNodes((n) => (n[1]!.slots = ['4000-8191'])))).toEqual([
      'overlapping slots: 4000-4095 assigned to both m1 and m2',
    ]);
  });

  test('uncovered slots', () => {
    expect(problemsOf(withNodes((n) => (n[3]!.slots = ['12288-16000', '16100'])))).toEqual([
      'uncovered slots: 16001-16099, 16101-16383 (382 slots) are assigned to no master',
    ]);
  });

  test('replica of an unknown master, and of a replica', () => {
    expect(problemsOf(withNodes((n) => (n[4]!.replicaOf = 'm9')))).toEqual([
      'nodes[4] r1 (172.31.20.83:50005): replicaOf "m9" is not a node of this spec',
    ]);
    expect(problemsOf(withNodes((n) => (n[4]!.replicaOf = 'r2')))).toEqual([
      'nodes[4] r1 (172.31.20.83:50005): replicaOf "r2" is not a master',
    ]);
  });

  test('duplicate port and duplicate id', () => {
    expect(problemsOf(withNodes((n) => (n[7]!.port = 50007)))).toEqual([
      'nodes[7] r4 (172.31.20.83:50007): duplicate port 50007 on 172.31.20.83, already used by r3',
    ]);
    expect(problemsOf(withNodes((n) => (n[7]!.id = 'r3')))[0]).toContain('id "r3" is used twice');
  });

  test('a node to remove is not also a node of the spec, and its entry has no unknown field', () => {
    expect(problemsOf({ ...seed(), remove: [{ host: '172.31.20.83', port: 50002 }] })).toEqual([
      'remove[0] 172.31.20.83:50002: is node m2 of the spec; keep it or remove it, not both',
    ]);
    expect(problemsOf({ ...seed(), remove: [{ host: '172.31.20.83', port: 50009, stop: 'yes' }] })).toEqual([
      'remove.0.stop: Invalid input: expected boolean, received string',
    ]);
    expect(problemsOf({ ...seed(), remove: [{ host: '172.31.20.83', port: 50009, stop: true }] })).toEqual([]);
  });

  test('schema errors carry their path', () => {
    expect(problemsOf(withNodes((n) => (n[2]!.port = 70000)))).toEqual([
      'nodes.2.port: must be at most 55535 (the cluster bus uses port + 10000)',
    ]);
    expect(problemsOf(withNodes((n) => (n[0]!.config = 'http://x/y')))[0]).toMatch(/^nodes\.0\.config: must be/);
    expect(problemsOf({ ...seed(), configDir: 'etc/redis' })).toEqual(['configDir: must be an absolute path']);
    expect(problemsOf(withNodes((n) => (n[0]!.slots = ['10-5'])))[0]).toContain('starts after it ends');
  });

  test('a source database copied into a target database the nodes do not hold', () => {
    const source = { type: 'cluster', nodes: [{ host: '127.0.0.1', port: 7000 }], databases: { '2': { db: 2 } } };
    expect(problemsOf({ ...seed(), migration: { source } })).toEqual([
      'migration.source.databases.2.db: the target has no database 2 (it holds 1); set clusterDatabases to 3 or more (cluster-databases, Valkey 9+ nodes), or copy db 2 into db 0 under a prefix',
    ]);
    expect(problemsOf({ ...seed(), clusterDatabases: 4, migration: { source } })).toEqual([]);
    const parsed = parseClusterSpec({ ...seed(), clusterDatabases: 4, migration: { source } });
    expect(parsed.migration?.source).toMatchObject({ databases: { '2': { db: 2, prefix: '' } } });
    const typo = { ...source, databases: { '2': { database: 2 } } };
    expect(problemsOf({ ...seed(), migration: { source: typo } })[0]).toMatch(
      /^migration\.source\.databases\.2: .*database/,
    );
  });

  test('role rules', () => {
    expect(problemsOf(withNodes((n) => (n[0]!.slots = undefined)))).toContain(
      'nodes[0] m1 (172.31.20.83:50001): a master needs slots',
    );
    expect(problemsOf(withNodes((n) => delete n[5]!.replicaOf))).toContain(
      'nodes[5] r2 (172.31.20.83:50006): replicaOf is required',
    );
  });
});

describe('auth: secrets by reference only', () => {
  test('a password written into the spec is refused, naming the field', () => {
    expect(problemsOf({ ...seed(), auth: { username: 'rco', password: 'secret' } }).join(' ')).toMatch(
      /auth.*password/i,
    );
  });

  test('auth without passwordEnv or passwordFile is refused', () => {
    expect(problemsOf({ ...seed(), auth: { username: 'rco' } })).toContain(
      'auth: give passwordEnv or passwordFile, the name of where the password is',
    );
  });

  test('a reference is accepted', () => {
    expect(problemsOf({ ...seed(), auth: { username: 'rco', passwordEnv: 'REDIS_PASSWORD' } })).toEqual([]);
  });
});
