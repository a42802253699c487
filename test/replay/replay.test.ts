/**
 * Determinism guard: every recorded history of a real run must replay against the current workflow code.
 * A change that breaks this needs a patch (workflow.patched) or a new recording on purpose.
 */
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { workflowBundle } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThan(0);
});

test.each(files)('%s replays without non-determinism', async (file) => {
  const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  expect(history.events.length).toBeGreaterThanOrEqual(10);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${file}`);
});
