/**
 * The README's Web UI steps in a real browser: Debian's Chromium, driven by playwright-core, opens the dev server's
 * UI, starts provisionRedisCluster from its Start Workflow form with the spec file as input, waits on the run's
 * page until it shows Completed, and reads the report in the result. A screenshot is kept in test-artifacts/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { RedisClusterClient } from '../../src/client';
import { PROJECT_ROOT, toolPath } from '../../src/host/tools';
import { runWorkerHere } from '../helpers/running-stack';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { type Stack, seedTopology, startStack } from '../helpers/stack';

const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts');

let stack: Stack;
let browser: Browser | undefined;
let stopWorker: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack('web-ui', { ui: true });
  stopWorker = await runWorkerHere(stack.temporal.address);
  browser = await chromium.launch({ executablePath: toolPath('chromium'), args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await stopWorker?.();
  await stack?.stop();
});

test('start provisionRedisCluster from the Web UI form, see it complete, read the report', async () => {
  const spec = await seedTopology(stack, 'ui');
  const specFile = path.join(stack.stateDir, 'ui-spec.json');
  writeFileSync(specFile, JSON.stringify(spec, null, 2));
  const workflowId = `redis-cluster-${spec.name}`;

  const page = await browser!.newPage({ viewport: { width: 1400, height: 1100 } });
  try {
    // Workflows -> Start Workflow, as the README says.
    await page.goto(`${stack.uiAddress}/namespaces/default/workflows`);
    await page.getByText('Start Workflow', { exact: true }).first().click(); // a link styled as a button
    await page.waitForURL(/start-workflow/);
    await page.locator('#workflowId').fill(workflowId);
    await page.locator('#taskQueue').fill('redis-cluster');
    await page.locator('#workflowType').fill('provisionRedisCluster');
    await page.locator('input[type=file]').setInputFiles(specFile);
    await page.getByTestId('start-workflow-button').click();

    // The UI says so in a notice that links to the run's page; that page shows Completed once the cluster is built.
    await page.getByRole('link', { name: 'Workflow started successfully' }).click({ timeout: 30_000 });
    await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), { timeout: 30_000 });
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 120_000 });
    await page.reload();
    const result = page.getByText('"clusterState": "ok"').first();
    await result.waitFor({ timeout: 30_000 });
    await result.scrollIntoViewIfNeeded();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-result.png'), fullPage: true });
    expect(await page.content()).toContain('currentEpoch');
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-failure.png'), fullPage: true });
    throw err;
  } finally {
    await page.close();
  }

  // The run the UI started is the real thing: its report, and the live cluster.
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  try {
    const { report } = await client.result(spec.name);
    expect(report.clusterState).toBe('ok');
  } finally {
    await client.close();
  }
  await expectRunbookCluster(spec);
});

test("the run's page says what the run and each step do (user metadata)", async () => {
  const spec = await seedTopology(stack, 'ui-summary');
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  try {
    await client.provision(spec);
    await client.result(spec.name);
  } finally {
    await client.close();
  }
  const page = await browser!.newPage({ viewport: { width: 1400, height: 1600 } });
  try {
    await page.goto(`${stack.uiAddress}/namespaces/default/workflows/redis-cluster-${spec.name}`);
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 30_000 });
    // The timeline names each step's target beside the activity.
    await page.getByText('assignSlots • m1 0-4095, m2 4096-8191, m3 8192-12287, m4 12288-16383').waitFor();
    await page.getByText('replicateNodes • r1→m3, r2→m1, r3→m4, r4→m2').waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-summaries.png'), fullPage: true });
    // The run's own summary, under User Metadata.
    await page.getByText('User Metadata', { exact: true }).first().click();
    // The UI renders it as markdown in a sandboxed frame.
    await page
      .frameLocator('iframe')
      .first()
      .getByText(`provision cluster ${spec.name} (8 nodes)`)
      .waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-run-summary.png') });
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-summaries-failure.png'), fullPage: true });
    throw err;
  } finally {
    await page.close();
  }
});
