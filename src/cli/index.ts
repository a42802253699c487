#!/usr/bin/env node
/** rco: the command line. This file only wires the commands; each lives in its own file. */
import { Command } from 'commander';
import { handleError } from './common';
import { registerCleanup } from './cleanup';
import { registerCutover } from './cutover';
import { registerList } from './list';
import { registerLocal } from './local';
import { registerMigrate } from './migrate';
import { registerPause } from './pause';
import { registerPlan } from './plan';
import { registerProvision } from './provision';
import { registerRepair } from './repair';
import { registerSchedule } from './schedule';
import { registerResume } from './resume';
import { registerStatus } from './status';
import { registerThrottle } from './throttle';
import { registerVerify } from './verify';
import { registerWatch } from './watch';
import { registerWorker } from './worker';

// `rco ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('rco').description('Durable Redis Cluster provisioning on Temporal');
registerProvision(program);
registerPlan(program);
registerStatus(program);
registerWatch(program);
registerList(program);
registerVerify(program);
registerMigrate(program);
registerPause(program);
registerResume(program);
registerThrottle(program);
registerCutover(program);
registerCleanup(program);
registerRepair(program);
registerSchedule(program);
registerWorker(program);
registerLocal(program);

program.parseAsync(process.argv).catch(handleError);
