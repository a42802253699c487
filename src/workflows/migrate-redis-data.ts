/**
 * migrateRedisData: copies the spec's migration source into the existing cluster the spec names (its masters are
 * the target); nothing is provisioned. `migrate` is also the last part of provisionRedisCluster.
 */
import { ApplicationFailure, continueAsNew } from '@temporalio/workflow';
import { ErrorType } from '../model/errors';
import { type MigrationProgress, type ProvisionProgress, STEPS } from '../model/progress';
import type { ClusterSpec, ClusterSpecInput } from '../model/schema';
import { copyData, migrationControls } from './copy-phase';
import { type Carried, Run } from './run';
import { type SyncedData, syncData } from './sync-phase';
import { type MigrationReport, verifyData } from './verify-phase';

export type { MigrationReport };

export interface MigrateResult {
  steps: ProvisionProgress['steps'];
  migration: MigrationReport;
}

/**
 * Snapshot mode: copy, then verify (copy-phase.ts, verify-phase.ts). Live mode: follow the sources until a cutover,
 * which verifies (sync-phase.ts).
 */
export async function migrate(spec: ClusterSpec, run: Run): Promise<MigrationReport> {
  const progress = migrationControls(spec, run.handedOver?.copy?.migration ?? run.handedOver?.sync?.migration);
  run.progress.migration = progress;
  if (spec.migration?.mode === 'live') {
    const synced = await run.step('migrateData', () => syncData(spec, run, progress));
    return run.step('verifyData', async () => liveReport(synced, progress));
  }
  const copied = await run.step('migrateData', () => copyData(spec, run, progress));
  return run.step('verifyData', () => verifyData(spec, copied, progress));
}

/** The report of a live migration: the cutover (its verification ran before it stopped the sync). */
function liveReport(synced: SyncedData, progress: MigrationProgress): MigrationReport {
  return {
    mode: 'live',
    servers: progress.servers,
    shards: [],
    verification: synced.verification,
    recopied: 0,
    unequal: synced.cutover.differences,
    unequalNotListed: synced.cutover.differencesNotListed,
    sync: progress.sync,
    cutover: synced.cutover,
    targetKeys: [],
  };
}

export async function migrateRedisData(input: ClusterSpecInput, carried?: Carried): Promise<MigrateResult> {
  const run = new Run(input, carried, (next) => continueAsNew<typeof migrateRedisData>(input, next));
  const spec = await run.validated(input);
  if (!spec.migration)
    throw ApplicationFailure.create({
      type: ErrorType.InvalidSpec,
      message: 'migration: required by migrateRedisData',
      nonRetryable: true,
    });
  run.skip(STEPS.filter((name) => name !== 'validate' && name !== 'migrateData' && name !== 'verifyData'));
  const migration = await migrate(spec, run);
  run.finish();
  return { steps: run.progress.steps, migration };
}
