/**
 * Following a cluster's answers to a command sent to the owner of its key: MOVED (the slot map changed: refresh
 * it and go to the new owner), ASK (the slot is being moved: ASKING, then the command, on the node named),
 * TRYAGAIN, CLUSTERDOWN and LOADING (wait a little, then send it again).
 */
import { type Arg, type Reply, ReplyError } from './bulk';
import { redirection } from './slot-map';

/** Where commands go; SlotMap is one, tests use fakes. */
export interface Router {
  ownerOf(key: Buffer): string;
  refresh(): Promise<void>;
  /** Sends commands to one node in one round trip; command errors come back as ReplyError values. */
  send(address: string, commands: Arg[][]): Promise<Reply[]>;
}

export interface RedirectOptions {
  /** @default 10 */
  attempts?: number;
  /** How long to wait before attempt n (n >= 2) after TRYAGAIN, CLUSTERDOWN or LOADING. @default 100 ms * n */
  waitMs?: (attempt: number) => number;
  /** Called while waiting (activities heartbeat). */
  onWait?: (reason: string) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends `command` for `key` to its owner (or handles `first`, a reply already received from it) until the answer is
 * not a redirection. Returns that answer, which can still be an error for the caller to judge; a lost connection
 * rejects (it is not the key's failure).
 */
export async function sendFollowingRedirects(
  router: Router,
  key: Buffer,
  command: Arg[],
  options: RedirectOptions & { first?: Reply } = {},
): Promise<Reply> {
  const attempts = options.attempts ?? 10;
  let reply = options.first ?? (await router.send(router.ownerOf(key), [command]))[0]!;
  for (let attempt = 2; attempt <= attempts; attempt++) {
    if (!(reply instanceof ReplyError)) return reply;
    const kind = redirection(reply);
    if (!kind) return reply;
    if (kind === 'ASK') {
      const [, , address] = reply.message.split(' ');
      const replies = await router.send(address!, [['ASKING'], command]);
      reply = replies[1]!;
      continue;
    }
    if (kind === 'MOVED') await router.refresh();
    else {
      options.onWait?.(`${kind} from the target`);
      await sleep(options.waitMs?.(attempt) ?? 100 * attempt);
    }
    reply = (await router.send(router.ownerOf(key), [command]))[0]!;
  }
  return reply;
}
