import { MAX_BATCH_COMMANDS, batch, type JobCommand, type JobOp, type JobOutcome, type JobResult } from '../table/index.js'

/**
 * Job commands proposed during one event-loop turn, from any number of
 * callbacks (HTTP launches, reports of different attempts), go to the
 * coordinator as one `batch` command: one log entry, one apply, instead of
 * one each. Each proposal gets its own outcome, or the error of the whole
 * batch (an unknown outcome: the caller decides whether to propose again).
 */
export class CommandBatcher {
  private queued: Array<{ op: JobOp, resolve: (o: JobOutcome) => void, reject: (err: unknown) => void }> = []

  constructor (
    private readonly send: (command: JobCommand) => Promise<{ result: JobResult }>,
    /** Runs the flush at the end of the turn. @default setImmediate */
    private readonly defer: (fn: () => void) => void = fn => setImmediate(fn)
  ) {}

  async propose (op: JobOp): Promise<JobOutcome> {
    return await new Promise((resolve, reject) => {
      if (this.queued.push({ op, resolve, reject }) === 1) this.defer(() => this.flush())
    })
  }

  private flush (): void {
    const all = this.queued
    this.queued = []
    for (let i = 0; i < all.length; i += MAX_BATCH_COMMANDS) {
      const part = all.slice(i, i + MAX_BATCH_COMMANDS)
      this.send(part.length === 1 ? part[0].op : batch(part.map(q => q.op))).then(({ result }) => {
        const outcomes = Array.isArray(result) ? result : [result]
        part.forEach((q, k) => q.resolve(outcomes[k]))
      }, err => { for (const q of part) q.reject(err) })
    }
  }
}
