/**
 * Activity-side decisions in a mocked activity context (MockActivityEnvironment): where a retried copy chunk resumes,
 * and how a write follows the cluster's MOVED, ASK, TRYAGAIN and CLUSTERDOWN answers. No server.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { type Checkpoint, type CopyCounters, resumePointOfActivity } from '../../src/migration/checkpoint';
import { type Arg, type Reply, ReplyError } from '../../src/redis/bulk';
import { type Router, sendFollowingRedirects } from '../../src/redis/redirects';

const counters = (batches: number): CopyCounters => ({
  batches,
  scanned: batches * 1000,
  copied: batches * 1000,
  skipped: 0,
  failed: 0,
  bigKeys: 0,
});
const at = (batches: number, cursor: string): Checkpoint => ({ cursor, counters: counters(batches), mode: 'migrate' });

describe('where a copy chunk resumes', () => {
  test('a first attempt starts where the workflow says, unless the target holds a later checkpoint', async () => {
    const env = new MockActivityEnvironment({ attempt: 1, heartbeatDetails: at(9, 'hb') });
    // The heartbeat details of a first attempt are not its own (there are none): ignored.
    expect(await env.run(() => Promise.resolve(resumePointOfActivity(at(3, 'wf'))))).toMatchObject({ cursor: 'wf' });
    expect(await env.run(() => Promise.resolve(resumePointOfActivity(at(3, 'wf'), at(5, 'stored'))))).toMatchObject({
      cursor: 'stored',
    });
  });

  test('a retry resumes at the latest of its last heartbeat and the stored checkpoint', async () => {
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: at(7, 'hb') });
    expect(await retry.run(() => Promise.resolve(resumePointOfActivity(at(3, 'wf'), at(5, 'stored'))))).toMatchObject({
      cursor: 'hb',
    });
    expect(await retry.run(() => Promise.resolve(resumePointOfActivity(at(3, 'wf'), at(8, 'stored'))))).toMatchObject({
      cursor: 'stored',
    });
    const noHeartbeat = new MockActivityEnvironment({ attempt: 3, heartbeatDetails: undefined });
    expect(await noHeartbeat.run(() => Promise.resolve(resumePointOfActivity(at(3, 'wf'))))).toMatchObject({
      cursor: 'wf',
    });
  });
});

/** A cluster that answers from a script: each send takes the next scripted replies for that address. */
class ScriptedCluster implements Router {
  owner = 'a:1';
  refreshed = 0;
  readonly sent: string[] = [];
  constructor(private readonly script: Record<string, (Reply | Error)[][]>) {}
  ownerOf(): string {
    return this.owner;
  }
  async refresh(): Promise<void> {
    this.refreshed++;
    this.owner = 'b:2';
  }
  async send(address: string, commands: Arg[][]): Promise<Reply[]> {
    this.sent.push(`${address} ${commands.map((c) => String(c[0])).join('+')}`);
    const next = this.script[address]?.shift();
    if (!next) throw new Error(`nothing scripted for ${address}`);
    const lost = next.find((r) => r instanceof Error && !(r instanceof ReplyError));
    if (lost) throw lost;
    return next as Reply[];
  }
}

const key = Buffer.from('k');
const command: Arg[] = ['RESTORE', key, '0', Buffer.from('payload')];
const ok = Buffer.from('OK');

describe('a write that follows the cluster', () => {
  test('MOVED: the slot map is refreshed and the write goes to the new owner', async () => {
    const cluster = new ScriptedCluster({ 'a:1': [[new ReplyError('MOVED 3 b:2')]], 'b:2': [[ok]] });
    expect(await sendFollowingRedirects(cluster, key, command)).toEqual(ok);
    expect(cluster.refreshed).toBe(1);
    expect(cluster.sent).toEqual(['a:1 RESTORE', 'b:2 RESTORE']);
  });

  test('ASK: ASKING then the write, on the node named, in one round trip; its error is not taken for success', async () => {
    const wrongType = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    const cluster = new ScriptedCluster({
      'a:1': [[new ReplyError('ASK 3 c:3')]],
      'c:3': [[ok, wrongType]],
    });
    expect(await sendFollowingRedirects(cluster, key, command)).toBe(wrongType);
    expect(cluster.sent).toEqual(['a:1 RESTORE', 'c:3 ASKING+RESTORE']);
    expect(cluster.refreshed).toBe(0);
  });

  test('TRYAGAIN and CLUSTERDOWN are waited out, heartbeating while it waits', async () => {
    const cluster = new ScriptedCluster({
      'a:1': [
        [new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot')],
        [new ReplyError('CLUSTERDOWN The cluster is down')],
        [ok],
      ],
    });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const reply = await env.run(() =>
      sendFollowingRedirects(cluster, key, command, {
        waitMs: () => 1,
        onWait: (reason) => env.context.heartbeat({ waitingFor: reason }),
      }),
    );
    expect(reply).toEqual(ok);
    expect(heartbeats).toEqual([
      { waitingFor: 'TRYAGAIN from the target' },
      { waitingFor: 'CLUSTERDOWN from the target' },
    ]);
  });

  test('it gives up after the attempts allowed, returning the last answer', async () => {
    const down = () => [new ReplyError('CLUSTERDOWN The cluster is down')];
    const cluster = new ScriptedCluster({ 'a:1': [down(), down(), down()] });
    const reply = await sendFollowingRedirects(cluster, key, command, { attempts: 3, waitMs: () => 1 });
    expect(reply).toBeInstanceOf(ReplyError);
    expect((reply as ReplyError).message).toMatch(/^CLUSTERDOWN/);
    expect(cluster.sent).toHaveLength(3);
  });

  test('a lost connection is thrown, not taken for the key failing', async () => {
    const cluster = new ScriptedCluster({
      'a:1': [[new ReplyError('MOVED 3 b:2')]],
      'b:2': [[new Error('b:2: connection closed')]],
    });
    await expect(sendFollowingRedirects(cluster, key, command)).rejects.toThrow('connection closed');
  });
});
