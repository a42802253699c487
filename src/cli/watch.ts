import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { type ProvisionProgress, RedisClusterClient } from '../client';
import type { WorkerWait } from '../model';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Migration = NonNullable<ProvisionProgress['migration']>;

/** A live sync's source master, in one line. */
function syncDetail(s: NonNullable<Migration['sync']>[number]): string {
  const lag =
    s.replid === 'notifications'
      ? `, ${s.pendingKeys ?? 0} keys notified and waiting`
      : s.lagBytes !== undefined
        ? `, lag ${s.lagBytes} B (~${s.lagSeconds ?? 0} s)`
        : '';
  const rate = s.opsPerSecond !== undefined ? `, ${s.opsPerSecond} ops/s` : '';
  const resyncs = `, snapshots ${s.fullResyncs}, resumed ${s.partialResyncs}`;
  return `${s.phase}${lag}${rate}${resyncs}${onWorker(s.worker)}${s.warning ? ` - ${s.warning}` : ''}`;
}

/** The worker that ran the shard's last chunk. */
const onWorker = (worker?: string) => (worker ? `, on ${worker}` : '');

function shardDetail(s: Migration['shards'][number]): string {
  const eta = s.etaSeconds !== undefined ? `, ETA ${s.etaSeconds}s` : '';
  return `copied ${s.copied} skipped ${s.skipped} failed ${s.failed}, ${s.rate} keys/s${eta}${onWorker(s.worker)}${s.done ? ', done' : ''}`;
}

/** The slot moves (step moveSlots) in one line. */
function slotMovesDetail(m: NonNullable<ProvisionProgress['slotMoves']>): string {
  const throttle = m.keysPerSecond ? `, throttled to ${m.keysPerSecond} keys/s` : '';
  const job = m.atomicJob;
  const running = job
    ? `, job ${job.job} (${job.slots} slots to ${job.to}) ${job.state}, ${job.remainingReplSize} bytes of writes to send`
    : '';
  const atomic = (m.atomicJobs ? `, ${m.atomicJobs} atomic job(s)` : '') + running;
  const fallbacks = m.fallbacks?.length ? `, ${m.fallbacks.length} by the classic protocol instead` : '';
  return `${m.keysMoved} keys moved, ${m.bigKeys} big${atomic}${fallbacks}${throttle}${m.paused ? ', paused' : ''}`;
}

/** What a run waits for an operator to approve, with its plan and how to approve it; undefined when it does not. */
function approvalLines(p: ProvisionProgress): string[] | undefined {
  const waiting = p.waitingForApproval;
  if (!waiting) return undefined;
  return [
    `waiting for approval: ${waiting.approval}`,
    ...waiting.plan.map((c) => `  ${(c.node ?? '').padEnd(4)} ${c.change}`),
    `approve with: rco approve ${p.cluster} ${waiting.approval}`,
  ];
}

/** One line per step change and per shard every few seconds, for logs and pipes (no terminal). */
class LinePrinter {
  private lastWait?: string;
  waiting(wait: WorkerWait | undefined): void {
    if (wait && wait.task !== this.lastWait) console.log(`waiting for a worker: ${wait.message}`);
    this.lastWait = wait?.task;
  }
  private lastStep?: string;
  private lastShardLine = 0;
  private lastApproval?: string;
  show(p: ProvisionProgress): void {
    const step = p.currentStep ?? 'idle';
    if (step !== this.lastStep) console.log(`step ${step}`);
    this.lastStep = step;
    const approval = approvalLines(p);
    if (approval && approval.join() !== this.lastApproval) for (const line of approval) console.log(line);
    this.lastApproval = approval?.join();
    if ((p.migration || p.slotMoves) && Date.now() - this.lastShardLine > 5000) {
      this.lastShardLine = Date.now();
      const moves = p.slotMoves;
      if (moves && p.currentStep === 'moveSlots')
        console.log(`  slots: ${moves.slotsDone}/${moves.slotsTotal} moved, ${slotMovesDetail(moves)}`);
      for (const s of p.migration?.shards ?? [])
        console.log(`  ${s.shard}: scanned ${s.scanned}/${s.keysTotal}, ${shardDetail(s)}`);
      for (const s of p.migration?.sync ?? []) console.log(`  ${s.shard}: ${syncDetail(s)}`);
    }
  }
  stop(): void {}
}

/** A bar for the steps and one per migration shard. */
class Bars {
  private readonly multi = new MultiBar(
    { format: '{label} |{bar}| {value}/{total} {detail}', hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  private steps?: SingleBar;
  private slots?: SingleBar;
  private readonly shards = new Map<string, SingleBar>();
  private lastApproval?: string;
  private lastWait?: string;
  waiting(wait: WorkerWait | undefined): void {
    if (wait && wait.task !== this.lastWait) this.multi.log(`waiting for a worker: ${wait.message}\n`);
    this.lastWait = wait?.task;
  }
  show(p: ProvisionProgress): void {
    const counted = p.steps.filter((s) => s.status !== 'skipped');
    const done = counted.filter((s) => s.status === 'done').length;
    const approval = approvalLines(p);
    if (approval && approval.join() !== this.lastApproval) this.multi.log(`${approval.join('\n')}\n`);
    this.lastApproval = approval?.join();
    const waiting = p.waitingForApproval ? `waiting for approval: ${p.waitingForApproval.approval}` : undefined;
    const paused = p.currentStep === 'moveSlots' ? p.slotMoves?.paused : p.migration?.paused;
    const detail = waiting ?? (paused ? 'paused' : (p.currentStep ?? ''));
    this.steps ??= this.multi.create(counted.length, 0, { label: 'steps'.padEnd(24), detail });
    this.steps.setTotal(counted.length);
    this.steps.update(done, { detail });
    if (p.slotMoves && p.slotMoves.slotsTotal > 0) {
      this.slots ??= this.multi.create(p.slotMoves.slotsTotal, 0, { label: 'slots moved'.padEnd(24), detail: '' });
      this.slots.setTotal(p.slotMoves.slotsTotal);
      this.slots.update(p.slotMoves.slotsDone, { detail: slotMovesDetail(p.slotMoves) });
    }
    for (const s of p.migration?.shards ?? []) {
      let bar = this.shards.get(s.shard);
      if (!bar) {
        bar = this.multi.create(Math.max(s.keysTotal, 1), 0, { label: s.shard.slice(0, 24).padEnd(24), detail: '' });
        this.shards.set(s.shard, bar);
      }
      bar.setTotal(Math.max(s.keysTotal, s.scanned, 1));
      bar.update(s.scanned, { detail: shardDetail(s) });
    }
    // Live sync: how far the cluster has applied each source master's stream.
    for (const s of p.migration?.sync ?? []) {
      let bar = this.shards.get(s.shard);
      if (!bar) {
        bar = this.multi.create(1, 0, { label: s.shard.slice(0, 24).padEnd(24), detail: '' });
        this.shards.set(s.shard, bar);
      }
      bar.setTotal(Math.max(s.sourceOffset ?? 1, 1));
      bar.update(s.appliedOffset ?? 0, { detail: syncDetail(s) });
    }
  }
  stop(): void {
    this.multi.stop();
  }
}

/**
 * Follows a run until it closes: a live progress bar on a terminal, plain lines otherwise, one JSON snapshot
 * per line with --json. Resolves to the run's final status (COMPLETED, FAILED, ...).
 */
export async function watchRun(
  client: RedisClusterClient,
  run: string,
  options: { json?: boolean; intervalMs?: number } = {},
): Promise<string> {
  const view = options.json ? undefined : process.stdout.isTTY ? new Bars() : new LinePrinter();
  let last = '';
  let lastWaitCheck = 0;
  let noWorker = false;
  try {
    for (;;) {
      const status = await client.status(run);
      // Every few seconds, from the server: a task no worker took (the progress query then goes unanswered).
      if (Date.now() - lastWaitCheck > 5000) {
        lastWaitCheck = Date.now();
        const wait = await client.waitingForWorker(run).catch(() => undefined);
        noWorker = wait?.pollers === 0;
        if (options.json && wait) console.log(JSON.stringify({ waitingForWorker: wait }));
        view?.waiting(wait);
      }
      // None while no worker is there to answer, or before the first workflow task ran.
      const progress = noWorker ? undefined : await client.progress(run).catch(() => undefined);
      if (progress) {
        const text = JSON.stringify(progress);
        if (options.json && text !== last) console.log(text);
        last = text;
        view?.show(progress);
      }
      if (status !== 'RUNNING') return status;
      await sleep(options.intervalMs ?? 500);
    }
  } finally {
    view?.stop();
  }
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description(
      'follow a run live: steps; per source shard keys copied, rate and ETA, or (live mode) phase, lag and commands/s',
    )
    .argument('<run>', 'cluster name (its provisioning run) or a workflow id such as redis-cluster-<name>-migration')
    .option('--json', 'one JSON progress snapshot per line, then the final status')
    .action(async (run: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const status = await watchRun(client, run, options);
        if (options.json) console.log(JSON.stringify({ run: client.handle(run).workflowId, status }));
        else console.log(`${client.handle(run).workflowId}: ${status}`);
        if (status !== 'COMPLETED') process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}
