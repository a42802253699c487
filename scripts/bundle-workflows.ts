/**
 * Bundles the workflow code once, at build time, into lib/workflow-bundle.js. A worker started with
 * RCO_WORKFLOW_BUNDLE pointing at it skips webpack at start: faster and some 100 MB less memory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(root, 'src', 'workflows') });
  const out = path.join(root, 'lib', 'workflow-bundle.js');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, code);
  console.log(`workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
