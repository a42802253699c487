/**
 * Programmatic client for other services: start (or attach to) a provisioning or migration run, watch its progress,
 * control it (pause, resume, throttle, cut over a live migration), wait for the report, cancel it.
 */
import {
  Client,
  Connection,
  type ConnectionOptions,
  ScheduleOverlapPolicy,
  WorkflowIdConflictPolicy,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { Duration, SearchAttributePair } from '@temporalio/common';
import {
  type Approval,
  type ClusterSpecInput,
  type CutoverReport,
  type CutoverRequest,
  type ProvisionProgress,
  SEARCH_ATTRIBUTES,
  type WorkerWait,
  WORKER_PICKUP_BUDGET_MS,
  parseClusterSpec,
  runSummary,
  workflowIdFor,
  driftScheduleId,
  failoverWorkflowId,
  migrationWorkflowId,
  repairWorkflowId,
} from './model';
import { withSpecAccess } from './cluster/access';
import { waitingForWorker } from './client-worker-wait';
import { type LeftoverRemoval, removeLeftovers, runIsActiveIn } from './migration/leftovers';
import { type TemporalSettings, WORKFLOW_TYPE, temporalSettings } from './settings';
import {
  approveUpdate,
  clusterSearchAttribute,
  cutoverUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  stepSearchAttribute,
  throttleUpdate,
} from './workflows/messages';
import type { FailoverInput, FailoverResult } from './workflows/failover-redis-cluster';
import type { MigrateResult } from './workflows/migrate-redis-data';
import type { RepairInput, RepairResult } from './workflows/repair-redis-cluster';
import type { ProvisionResult } from './workflows/provision-redis-cluster';

export type {
  FailoverInput,
  FailoverResult,
  MigrateResult,
  ProvisionProgress,
  ProvisionResult,
  RepairInput,
  RepairResult,
};

export { driftScheduleId, failoverWorkflowId, migrationWorkflowId, repairWorkflowId } from './model';

export class RedisClusterClient {
  private searchAttributesRegistered?: Promise<boolean>;

  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
    readonly settings: TemporalSettings,
  ) {}

  static async connect(overrides: Partial<TemporalSettings> = {}): Promise<RedisClusterClient> {
    const settings = temporalSettings(overrides);
    const options: ConnectionOptions = { ...(settings.connection as ConnectionOptions), address: settings.address };
    const connection = await Connection.connect(options);
    return new RedisClusterClient(new Client({ connection, namespace: settings.namespace }), connection, settings);
  }

  /**
   * Starts a run of `workflowType` for the cluster, or attaches to the one already going under the same id: one
   * cluster never has two such runs at once. The spec is validated here first, so a bad spec fails before anything
   * starts.
   */
  private async start(
    workflowType: string,
    spec: ClusterSpecInput,
    workflowId: (name: string) => string,
    args: unknown[],
    summary = (text: string) => text,
  ): Promise<WorkflowHandleWithFirstExecutionRunId> {
    const parsed = parseClusterSpec(spec);
    return this.client.workflow.start(workflowType, {
      taskQueue: this.settings.taskQueue,
      staticSummary: summary(runSummary(workflowType, parsed)),
      workflowId: workflowId(parsed.name),
      args,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      typedSearchAttributes: await this.searchAttributesFor(parsed.name),
    });
  }

  /** Provisions the cluster (or attaches to its provisioning run). */
  provision(spec: ClusterSpecInput, options: { workflowId?: string } = {}) {
    return this.start(WORKFLOW_TYPE, spec, (name) => options.workflowId ?? workflowIdFor({ name }), [spec]);
  }

  /** Copies the spec's migration source into the existing cluster it names (or attaches to that run). */
  migrate(spec: ClusterSpecInput) {
    return this.start('migrateRedisData', spec, migrationWorkflowId, [spec]);
  }

  /**
   * Brings the live cluster back to its spec (or attaches to the repair running). Takeover and forget wait for
   * `approve` unless `input.approve` grants them.
   */
  repair(spec: ClusterSpecInput, options: Omit<RepairInput, 'spec'> = {}) {
    return this.start('repairRedisCluster', spec, repairWorkflowId, [{ spec, ...options }]);
  }

  /** Moves one master's role to its spec replica (planned), or takes over a master that is down (`force`). */
  failover(spec: ClusterSpecInput, options: Omit<FailoverInput, 'spec'>) {
    const what = `${options.force ? 'takeover' : 'planned failover'} of ${options.master}`;
    return this.start('failoverRedisCluster', spec, failoverWorkflowId, [{ spec, ...options }], (s) => `${s}: ${what}`);
  }

  /** Lets a repair or failover run's destructive step go on; resolves to every approval in force. */
  async approve(clusterOrWorkflowId: string, approvals: Approval[]): Promise<Approval[]> {
    return (await this.running(clusterOrWorkflowId)).executeUpdate(approveUpdate, { args: [approvals] });
  }

  /**
   * A Temporal Schedule that runs the read-only drift check (verifyRedisCluster) every `every` (e.g. "5m"); an
   * existing schedule for the cluster is replaced. Each run's drift is in its result and its RedisClusterStep.
   */
  async scheduleVerify(spec: ClusterSpecInput, every: string): Promise<string> {
    const parsed = parseClusterSpec(spec);
    const scheduleId = driftScheduleId(parsed.name);
    await this.deleteSchedule(parsed.name).catch(() => undefined);
    await this.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: every as Duration }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'verifyRedisCluster',
        workflowId: scheduleId,
        taskQueue: this.settings.taskQueue,
        args: [spec],
        staticSummary: runSummary('verifyRedisCluster', parsed),
        typedSearchAttributes: await this.searchAttributesFor(parsed.name),
      },
      // A check still running when the next is due: the next is skipped, not queued.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return scheduleId;
  }

  /** Deletes the cluster's drift-check schedule. */
  async deleteSchedule(clusterName: string): Promise<void> {
    await this.client.schedule.getHandle(driftScheduleId(clusterName)).delete();
  }

  /** True when the namespace has our search attributes registered (asked once per client). */
  hasSearchAttributes(): Promise<boolean> {
    this.searchAttributesRegistered ??= this.connection.operatorService
      .listSearchAttributes({ namespace: this.settings.namespace })
      .then((response) => Object.keys(SEARCH_ATTRIBUTES).every((name) => name in (response.customAttributes ?? {})));
    return this.searchAttributesRegistered;
  }

  /** RedisCluster=<name> when registered, which also tells the workflow to keep RedisClusterStep current. */
  private async searchAttributesFor(clusterName: string): Promise<SearchAttributePair[] | undefined> {
    if (!(await this.hasSearchAttributes())) return undefined;
    return [{ key: clusterSearchAttribute, value: clusterName }];
  }

  /** Runs of this task queue's workflows, newest first, filtered by a visibility query (e.g. RedisCluster="seed"). */
  async list(query?: string): Promise<{ workflowId: string; status: string; type: string; step?: string }[]> {
    const runs = [];
    for await (const run of this.client.workflow.list({ query })) {
      runs.push({
        workflowId: run.workflowId,
        status: run.status.name,
        type: run.type,
        step: run.typedSearchAttributes.get(stepSearchAttribute) as string | undefined,
      });
      if (runs.length >= 100) break;
    }
    return runs;
  }

  /** A run by cluster name (the provisioning run), or by its full workflow id (e.g. migrationWorkflowId(name)). */
  handle(clusterOrWorkflowId: string): WorkflowHandle {
    const full = clusterOrWorkflowId.startsWith('redis-cluster-');
    return this.client.workflow.getHandle(full ? clusterOrWorkflowId : workflowIdFor({ name: clusterOrWorkflowId }));
  }

  /**
   * The run a control (pause, resume, throttle, cutover, approve) is for: a full workflow id as it is; for a cluster
   * name, whichever of its runs is running: its repair, failover, migration or provisioning, in that order.
   */
  async running(clusterOrWorkflowId: string): Promise<WorkflowHandle> {
    if (clusterOrWorkflowId.startsWith('redis-cluster-')) return this.handle(clusterOrWorkflowId);
    return this.handle((await this.activeRun(clusterOrWorkflowId)) ?? clusterOrWorkflowId);
  }

  /** The workflow id of a run of this cluster that is running (repair, failover, migration, provisioning), if any. */
  async activeRun(clusterName: string): Promise<string | undefined> {
    const ids = [repairWorkflowId, failoverWorkflowId, migrationWorkflowId].map((id) => id(clusterName));
    for (const id of [...ids, workflowIdFor({ name: clusterName })]) {
      const status = await this.client.workflow
        .getHandle(id)
        .describe()
        .then(
          (d) => d.status.name,
          () => undefined,
        );
      if (status === 'RUNNING') return id;
    }
    return undefined;
  }

  /**
   * Removes the keys that ended runs left in the cluster (copy checkpoints, live-sync state), from here; refuses while
   * a run of the cluster is active.
   */
  async cleanup(spec: ClusterSpecInput): Promise<LeftoverRemoval> {
    const parsed = parseClusterSpec(spec);
    const active = await this.activeRun(parsed.name);
    if (active) throw new Error(`${active} is running: cleanup of cluster ${parsed.name} waits until it ends`);
    return withSpecAccess(parsed, () => removeLeftovers(parsed, runIsActiveIn(this.client)));
  }

  /** Pauses copying (or applying, in live mode) at the next chunk boundary (within about 5-10 s). */
  async pause(clusterOrWorkflowId: string): Promise<string> {
    const handle = await this.running(clusterOrWorkflowId);
    await handle.signal(pauseSignal);
    return handle.workflowId;
  }

  async resume(clusterOrWorkflowId: string): Promise<string> {
    const handle = await this.running(clusterOrWorkflowId);
    await handle.signal(resumeSignal);
    return handle.workflowId;
  }

  /** Sets the throttle (keys/s while copying, commands/s while streaming; null: unlimited); resolves to the one in force. */
  async throttle(clusterOrWorkflowId: string, perSecond: number | null): Promise<number | null> {
    return (await this.running(clusterOrWorkflowId)).executeUpdate(throttleUpdate, { args: [perSecond] });
  }

  /**
   * Live mode: verify, pause writes on the sources within the budget, stop the sync once caught up; the report. Done,
   * it returns once its run closed, so that a migration started next is a new run, not an attach to the one ending.
   */
  async cutover(clusterOrWorkflowId: string, request: CutoverRequest = {}): Promise<CutoverReport> {
    const handle = await this.running(clusterOrWorkflowId);
    const report = await handle.executeUpdate(cutoverUpdate, { args: [request] });
    if (report.done) await handle.result().catch(() => undefined);
    return report;
  }

  /**
   * Whether a running run waits for a worker: an activity or workflow task not taken within its budget, and how many
   * workers poll its task queue. Read from the Temporal server alone, so it answers when no worker is left to answer
   * the progress query (a worker that died, one never started).
   */
  async waitingForWorker(
    clusterOrWorkflowId: string,
    budgetMs = WORKER_PICKUP_BUDGET_MS,
  ): Promise<WorkerWait | undefined> {
    return waitingForWorker(this.client, this.settings.namespace, this.handle(clusterOrWorkflowId), budgetMs);
  }

  progress(clusterOrWorkflowId: string): Promise<ProvisionProgress> {
    return this.handle(clusterOrWorkflowId).query(progressQuery);
  }

  result(clusterName: string): Promise<ProvisionResult> {
    return this.handle(clusterName).result() as Promise<ProvisionResult>;
  }

  /** The report of a migration-only run (migrateRedisData). */
  migrationResult(clusterName: string): Promise<MigrateResult> {
    return this.handle(migrationWorkflowId(clusterName)).result() as Promise<MigrateResult>;
  }

  /** RUNNING, COMPLETED, FAILED, ... of the latest run. */
  async status(clusterOrWorkflowId: string): Promise<string> {
    return (await this.handle(clusterOrWorkflowId).describe()).status.name;
  }

  async cancel(clusterOrWorkflowId: string): Promise<void> {
    await this.handle(clusterOrWorkflowId).cancel();
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
