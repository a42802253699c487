/**
 * The real worker with one fault hook, for the fault-injection suite: RCO_FAULT_HOLD=<activity>:<before|after>[:ms]
 * holds the first run of that activity (before its work, or after its work and before its result reaches the
 * server) for ms (default: until killed) and prints "HOLDING <activity>", so that the test can break something at
 * exactly that moment.
 */
import { Context } from '@temporalio/activity';
import { runWorker } from '../../src/worker';

const [held, when, ms] = (process.env.RCO_FAULT_HOLD ?? '').split(':');
let holds = 1;

async function hold(name: string): Promise<void> {
  if (holds-- <= 0) return;
  console.log(`HOLDING ${name}`);
  await new Promise((resolve) => setTimeout(resolve, ms ? Number(ms) : 10 * 60_000));
}

runWorker({
  interceptors: {
    activity: [
      () => ({
        inbound: {
          async execute(input, next) {
            const name = Context.current().info.activityType;
            if (name === held && when === 'before') await hold(name);
            const result = await next(input);
            if (name === held && when === 'after') await hold(name);
            return result;
          },
        },
      }),
    ],
  },
}).catch((err) => {
  console.error(err);
  process.exit(1);
});
