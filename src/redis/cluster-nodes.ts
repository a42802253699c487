/** Parsers for `CLUSTER NODES`, `CLUSTER INFO` and `INFO` replies, and lookups in a node's view. Pure. */
import { type SlotRange, mergeRanges } from '../model/slots';

export type NodeRole = 'master' | 'replica';

export interface ClusterNodeLine {
  id: string;
  host: string;
  port: number;
  busPort: number;
  flags: string[];
  role: NodeRole;
  myself: boolean;
  /** Node id of the master, for replicas. */
  masterId?: string;
  configEpoch: number;
  linkState: 'connected' | 'disconnected';
  slots: SlotRange[];
  /** Still in the MEET handshake: no real id yet. */
  handshake: boolean;
  noFailover: boolean;
  failing: boolean;
  /** Slots left half-moved (shown on the myself line only): `[slot->-id]` migrating to id, `[slot-<-id]` importing. */
  openSlots: OpenSlotMark[];
}

export interface OpenSlotMark {
  slot: number;
  state: 'migrating' | 'importing';
  /** The node it migrates to, or imports from. */
  peer: string;
}

export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id, address, flagText, master, , , epoch, link, ...slotTexts] = line.split(' ');
      if (!id || !address || !flagText || !master || epoch === undefined || !link)
        throw new Error(`malformed CLUSTER NODES line: ${line}`);
      // ip:port@cport[,hostname]
      const match = /^(.*):(\d+)@(\d+)/.exec(address);
      const flags = flagText.split(',');
      const slots: SlotRange[] = [];
      const openSlots: OpenSlotMark[] = [];
      for (const text of slotTexts) {
        const open = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(text);
        if (open) {
          const [, slot, arrow, peer] = open;
          openSlots.push({ slot: Number(slot), state: arrow === '>' ? 'migrating' : 'importing', peer: peer! });
          continue;
        }
        if (text.startsWith('[')) continue;
        const [start, end] = text.split('-').map(Number);
        if (start !== undefined) slots.push([start, end ?? start]);
      }
      return {
        id,
        host: match?.[1] ?? '',
        port: Number(match?.[2] ?? 0),
        busPort: Number(match?.[3] ?? 0),
        flags,
        role: flags.includes('slave') ? 'replica' : 'master',
        myself: flags.includes('myself'),
        masterId: master === '-' ? undefined : master,
        configEpoch: Number(epoch),
        linkState: link === 'connected' ? 'connected' : 'disconnected',
        slots: mergeRanges(slots),
        handshake: flags.includes('handshake'),
        noFailover: flags.includes('nofailover'),
        failing: flags.includes('fail') || flags.includes('fail?'),
        openSlots,
      } satisfies ClusterNodeLine;
    });
}

/** One node's view of the cluster: its CLUSTER INFO and CLUSTER NODES. */
export interface NodeView {
  clusterInfo: Record<string, string>;
  nodes: ClusterNodeLine[];
  myself: ClusterNodeLine;
}

/** Finds a node in a view by its announced address. */
export function lineAt(view: NodeView, host: string, port: number): ClusterNodeLine | undefined {
  return view.nodes.find((n) => n.port === port && (n.host === host || (n.myself && n.host === '')));
}

/** `CLUSTER INFO` / `INFO` style "key:value" lines into a map. */
export function parseInfo(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const index = line.indexOf(':');
    if (index > 0 && !line.startsWith('#')) result[line.slice(0, index)] = line.slice(index + 1).trim();
  }
  return result;
}

/** Total keys from INFO keyspace ("db0:keys=3,expires=0,..."). */
export function keyspaceKeys(info: Record<string, string>): number {
  return Object.entries(info)
    .filter(([name]) => /^db\d+$/.test(name))
    .reduce((sum, [, value]) => sum + Number(/keys=(\d+)/.exec(value)?.[1] ?? 0), 0);
}

/** `lastVoteEpoch` and `currentEpoch` from the "vars" line of a nodes.conf file. */
export function parseNodesConfVars(text: string): { currentEpoch?: number; lastVoteEpoch?: number } {
  const vars = text.split('\n').find((line) => line.startsWith('vars '));
  if (!vars) return {};
  const parts = vars.split(' ');
  const value = (name: string) => {
    const index = parts.indexOf(name);
    return index >= 0 && parts[index + 1] !== undefined ? Number(parts[index + 1]) : undefined;
  };
  return { currentEpoch: value('currentEpoch'), lastVoteEpoch: value('lastVoteEpoch') };
}
