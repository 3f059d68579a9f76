import { PmzError } from '../../src/common/errors.js'
import type { InjectOptions, Payload, PipelineService, PipelineStatus } from '../../src/pipelines/types.js'

/** One call the fake service received. */
export type PipelineCall =
  | { op: 'inject', tag: string, payload: Payload, options: InjectOptions | undefined }
  | { op: 'event', name: string, body: { stages?: string[], args?: unknown } | undefined }
  | { op: 'redrive', stage: string }

/** A graph of two stages on two peers, as a status answer. */
export const SAMPLE_STATUS: PipelineStatus = {
  stages: [
    {
      stage: 'pumpkin/greet',
      consumes: ['names'],
      produces: 'greetings',
      source: false,
      peers: [
        { peerId: 'p1', state: 'running', instances: 2, inbox: 5, running: 2, processed: 120, failed: 1, ratePerS: 12.5, errors: ['boom'] },
        { peerId: 'p2', state: 'paused', instances: 1, inbox: 0, running: 0, processed: 7, failed: 0, ratePerS: 0, errors: [] }
      ],
      deadLetters: 1
    },
    { stage: 'pumpkin/extract', consumes: ['greetings'], source: false, peers: [], deadLetters: 0 }
  ],
  tags: { names: ['pumpkin/greet'], greetings: ['pumpkin/extract'] }
}

/**
 * A PipelineService that records its calls: tag `names` has a consumer,
 * any other tag is ERR_NOT_FOUND; `fail` makes the next call throw.
 */
export function fakePipelines (): { service: PipelineService, calls: PipelineCall[], fail: (err: Error) => void } {
  const calls: PipelineCall[] = []
  let failure: Error | undefined
  const check = (): void => {
    const err = failure
    failure = undefined
    if (err !== undefined) throw err
  }
  let n = 0
  const service: PipelineService = {
    async inject (tag, payload, options) {
      check()
      if (tag !== 'names') throw new PmzError('ERR_NOT_FOUND', `no stage consumes tag ${tag}`)
      calls.push({ op: 'inject', tag, payload, options })
      return `p1:${++n}`
    },
    async status () {
      check()
      return SAMPLE_STATUS
    },
    async event (name, body) {
      check()
      calls.push({ op: 'event', name, body })
      return { stages: body?.stages ?? SAMPLE_STATUS.stages.map(s => s.stage) }
    },
    async redrive (stage) {
      check()
      if (!SAMPLE_STATUS.stages.some(s => s.stage === stage)) throw new PmzError('ERR_NOT_FOUND', `no stage ${stage}`)
      calls.push({ op: 'redrive', stage })
      return 1
    }
  }
  return { service, calls, fail: err => { failure = err } }
}
