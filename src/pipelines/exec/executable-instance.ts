import { dirname } from 'node:path'
import { processError } from '../../jobs/exec/attempt.js'
import { OUTPUT_MAX_BYTES } from '../../jobs/exec/constants.js'
import { runProcess } from '../../jobs/exec/process-run.js'
import type { Packet, RunOutcome, StageInstance } from '../types.js'
import type { InstanceOptions } from './instance-options.js'
import { packetJson, payloadOfLine } from './payloads.js'

/**
 * An executable stage: one process per packet. The packet goes in as JSON on
 * stdin (bytes as `{"$bytes": base64}`), each line of stdout comes out as a
 * payload under `produces` (its JSON value, else the line as text), exit 0
 * is success and anything else fails the run with stderr's tail. There is no
 * long-lived process: `onExit` never fires, and it handles no events.
 */
export class ExecutableStageInstance implements StageInstance {
  readonly stage: string
  /** Settles once it was stopped and its last run ended. */
  readonly closed: Promise<void>
  private close!: () => void
  private readonly controller = new AbortController()
  /** Runs go one at a time, in call order. */
  private lane: Promise<unknown> = Promise.resolve()
  private stopped = false

  constructor (private readonly o: InstanceOptions) {
    this.stage = o.seed.name
    this.closed = new Promise(resolve => { this.close = resolve })
  }

  run (packet: Packet): Promise<RunOutcome> {
    const result = this.lane.then(async () => await this.runNow(packet))
    this.lane = result.catch(() => {})
    return result
  }

  async event (name: string): Promise<RunOutcome> {
    return { ok: false, emitted: [], error: `an executable stage handles no events (${name})` }
  }

  async stop (how: 'drain' | 'kill'): Promise<void> {
    this.stopped = true
    // Kill: SIGTERM to the running process's group, SIGKILL after the grace; drain: the run under way ends first.
    if (how === 'kill') this.controller.abort(new Error('killed'))
    await this.lane
    this.close()
  }

  onExit (): void {}

  private async runNow (packet: Packet): Promise<RunOutcome> {
    if (this.controller.signal.aborted) return { ok: false, emitted: [], error: 'the stage instance was killed' }
    if (this.stopped) return { ok: false, emitted: [], error: 'the stage instance is stopping' }
    const { seed, peerId } = this.o
    const r = await runProcess({
      signal: this.controller.signal,
      clock: this.o.clock,
      killGraceMs: this.o.killGraceMs,
      log: (line, stream) => { if (stream !== 'stdout') this.o.onLog(line, stream) }
    }, {
      command: seed.path,
      args: [],
      env: { ...this.o.env, PMZ_STAGE: seed.name, PMZ_PEER_ID: peerId, PMZ_PACKET_ID: packet.id, PMZ_TAG: packet.tag, PMZ_KEY: packet.key ?? '' },
      cwd: dirname(seed.path),
      stdin: packetJson(packet)
    })
    if (r.spawnError !== undefined) return { ok: false, emitted: [], error: r.spawnError }
    if (this.controller.signal.aborted) return { ok: false, emitted: [], error: 'the stage instance was killed' }
    if (r.stdoutOverflow) return { ok: false, emitted: [], error: `output larger than ${OUTPUT_MAX_BYTES} bytes` }
    if (r.exitCode !== 0) return { ok: false, emitted: [], error: processError(r) }
    const produces = seed.pipeline.produces
    if (produces === undefined) return { ok: true, emitted: [] }
    const emitted = r.stdout.split('\n').map(l => l.replace(/\r$/, '')).filter(l => l.trim() !== '').map(line => ({ tag: produces, payload: payloadOfLine(line) }))
    return { ok: true, emitted }
  }
}
