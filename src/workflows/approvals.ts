/**
 * Approvals for destructive steps: the run shows what it waits for (progress.waitingForApproval, with the exact plan,
 * and RedisClusterStep=approval:<what>) until the `approve` update grants it; the input may grant it in advance.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { type Approval, APPROVALS, type WaitingForApproval } from '../model/progress';
import { approveUpdate } from './messages';
import type { Run } from './run';

export class Approvals {
  private readonly granted: Set<Approval>;

  constructor(
    private readonly run: Run,
    preapproved: Approval[] = [],
  ) {
    this.granted = new Set(preapproved);
    setHandler(
      approveUpdate,
      (approvals) => {
        for (const approval of approvals) this.granted.add(approval);
        return [...this.granted];
      },
      {
        validator: (approvals) => {
          if (!Array.isArray(approvals) || approvals.length === 0 || approvals.some((a) => !APPROVALS.includes(a)))
            throw new Error(`approve takes a list of ${APPROVALS.join(', ')}; got ${JSON.stringify(approvals)}`);
        },
      },
    );
  }

  /** Returns at once when there is nothing to do or it is granted; otherwise waits for the operator. */
  async wait(approval: Approval, plan: WaitingForApproval['plan']): Promise<void> {
    if (plan.length === 0 || this.granted.has(approval)) return;
    this.run.progress.waitingForApproval = { approval, plan };
    this.run.showWaiting(approval);
    await condition(() => this.granted.has(approval));
    this.run.progress.waitingForApproval = undefined;
  }
}
