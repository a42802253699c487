/** The Temporal test environment of the workflow tests: the dev server the project installs, on loopback. */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { toolPath } from '../../src/host/tools';

/**
 * A local dev server. `suggestContinueAsNewAfter`: the event count after which it suggests continuing as new (far
 * sooner than its default of thousands), for the tests of long runs.
 */
export function localTestEnv(options: { suggestContinueAsNewAfter?: number } = {}): Promise<TestWorkflowEnvironment> {
  const after = options.suggestContinueAsNewAfter;
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: toolPath('temporal') },
      ip: '127.0.0.1',
      extraArgs: after ? ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${after}`] : [],
    },
  });
}
