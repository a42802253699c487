import { keyspaceKeys, parseClusterNodes, parseInfo, parseNodesConfVars } from '../../src/redis/cluster-nodes';

const sample = `746fa5bae59a3917999fa97614e22554f88039c6 127.0.0.1:50005@60005 slave,nofailover 45a8a1d6fd492cd218919f70aa0dceca6393522a 0 1795571506000 3 connected
45a8a1d6fd492cd218919f70aa0dceca6393522a 127.0.0.1:50003@60003 master - 0 1795571506349 3 connected 8192-12287
ccd1270f4eefbe3b7aa85fb5c3627129cd232384 127.0.0.1:50001@60001 myself,master - 0 1795571505000 1 connected 0-4095 [93->-45a8a1d6fd492cd218919f70aa0dceca6393522a]
aaaa70f4eefbe3b7aa85fb5c3627129cd2323840 :0@0 handshake,noaddr - 0 0 0 disconnected
`;

test('CLUSTER NODES lines', () => {
  const nodes = parseClusterNodes(sample);
  expect(nodes).toHaveLength(4);
  expect(nodes[0]).toMatchObject({
    role: 'replica',
    host: '127.0.0.1',
    port: 50005,
    busPort: 60005,
    noFailover: true,
    masterId: '45a8a1d6fd492cd218919f70aa0dceca6393522a',
    configEpoch: 3,
    slots: [],
  });
  expect(nodes[1]!.slots).toEqual([[8192, 12287]]);
  expect(nodes[2]).toMatchObject({ myself: true, role: 'master', slots: [[0, 4095]] });
  expect(nodes[3]).toMatchObject({ handshake: true, linkState: 'disconnected' });
});

test('INFO, keyspace and nodes.conf vars', () => {
  const info = parseInfo('# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb2:keys=4,expires=0,avg_ttl=0\r\n');
  expect(keyspaceKeys(info)).toBe(7);
  expect(parseNodesConfVars('abc ...\nvars currentEpoch 4 lastVoteEpoch 0\n')).toEqual({
    currentEpoch: 4,
    lastVoteEpoch: 0,
  });
});
