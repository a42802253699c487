import type { WorkflowHandle } from '@temporalio/client';

/** A run's whole history as text, with every payload decoded (payloads are base64 in its JSON): to search for secrets. */
export async function historyText(handle: WorkflowHandle): Promise<string> {
  const raw = JSON.stringify(await handle.fetchHistory());
  const decoded = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) =>
    Buffer.from(m[1]!, 'base64').toString('latin1'),
  );
  return raw + decoded.join('\n');
}
