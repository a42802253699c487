/**
 * bench:provision — the runbook's manual path against our workflow, same machine, same configs, several rounds.
 *   manual: start 8 redis-server, `redis-cli --cluster create ... --cluster-replicas 1`, wait for cluster_state:ok
 *           on every node and master_link_status:up on every replica.
 *   ours:   provisionRedisCluster from configs in S3 through verify (the exact topology, epochs and nofailover).
 * Prints the medians and, last, ratio_vs_manual=<ours/manual>.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RedisClusterClient } from '../src/client';
import { toolPath } from '../src/host/tools';
import { parseInfo } from '../src/redis/cluster-nodes';
import { probePort, withNode } from '../src/redis/connection';
import { renderNodeConf } from '../src/model';
import { createWorker } from '../src/worker';
import { freePortBlock, seedTopology, startStack, stopRedisNodes, workflowBundle } from '../test/helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function manualRound(stateDir: string, round: number): Promise<number> {
  const base = await freePortBlock();
  const dir = path.join(stateDir, `manual-${round}`);
  const ports = Array.from({ length: 8 }, (_, i) => base + i);
  const started = performance.now();
  for (const [i, port] of ports.entries()) {
    const dataDir = path.join(dir, String(port));
    mkdirSync(dataDir, { recursive: true });
    const conf = path.join(dir, `redis-${port}.conf`);
    writeFileSync(conf, renderNodeConf({ port, bind: '127.0.0.1', dataDir, replica: i >= 4, nofailover: true }));
    spawn(toolPath('redis-server'), [conf], { stdio: 'ignore', detached: true }).unref();
  }
  await Promise.all(
    ports.map((port) =>
      waitFor(
        `PING on ${port} (see ${dir})`,
        async () => (await probePort({ host: '127.0.0.1', port }, 500)).kind === 'redis',
      ),
    ),
  );
  const create = spawnSync(
    toolPath('redis-cli'),
    ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
    { encoding: 'utf8' },
  );
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  await waitFor('cluster ok and replicas linked', async () => {
    const states = await Promise.all(
      ports.map((port) =>
        withNode({ host: '127.0.0.1', port }, async (c) => ({
          cluster: parseInfo((await c.call('CLUSTER', 'INFO')) as string),
          replication: parseInfo((await c.info('replication')) as string),
        })),
      ),
    );
    return states.every(
      (s) =>
        s.cluster.cluster_state === 'ok' &&
        (s.replication.role === 'master' || s.replication.master_link_status === 'up'),
    );
  });
  const seconds = (performance.now() - started) / 1000;
  await stopRedisNodes(dir);
  return seconds;
}

async function main(): Promise<void> {
  const stack = await startStack('bench');
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const manual: number[] = [];
  const ours: number[] = [];
  try {
    await worker.runUntil(async () => {
      for (let round = 0; round < ROUNDS; round++) {
        manual.push(await manualRound(stack.stateDir, round));
        const spec = await seedTopology(stack, `bench-${round}`);
        const started = performance.now();
        await client.provision(spec);
        const result = await client.result(spec.name);
        ours.push((performance.now() - started) / 1000);
        if (result.report.problems.length > 0) throw new Error(`round ${round}: ${result.report.problems.join('; ')}`);
        await stopRedisNodes(path.join(stack.stateDir, spec.name));
        if (process.env.BENCH_VERBOSE) console.log(result.steps.map((s) => `${s.name}=${s.durationMs}`).join(' '));
        console.log(
          `round ${round + 1}/${ROUNDS}: manual ${manual[round]!.toFixed(2)} s, ours ${ours[round]!.toFixed(2)} s`,
        );
      }
    });
  } finally {
    await client.close();
    await connection.close();
    await stack.stop();
  }
  console.log(`manual (redis-cli --cluster create, until ok + replicas linked): median ${median(manual).toFixed(2)} s`);
  console.log(`ours (provisionRedisCluster, S3 configs through verify):       median ${median(ours).toFixed(2)} s`);
  console.log(`ratio_vs_manual=${(median(ours) / median(manual)).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
