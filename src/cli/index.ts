#!/usr/bin/env node
/** rco: the command line. This file only wires the commands; each lives in its own file. */
import { Command } from 'commander';
import { handleError } from './common';
import { registerLocal } from './local';
import { registerProvision } from './provision';
import { registerStatus } from './status';
import { registerVerify } from './verify';
import { registerWorker } from './worker';

const program = new Command('rco').description('Durable Redis Cluster provisioning on Temporal');
registerProvision(program);
registerStatus(program);
registerVerify(program);
registerWorker(program);
registerLocal(program);

program.parseAsync(process.argv).catch(handleError);
