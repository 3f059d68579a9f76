import type { Clock } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import { SURVEY_SPECULATE_MS } from './constants.js'
import type { Placement, Target } from './placement.js'
import { newestOf, type ReadRepair, type SurveyAnswer } from './read-repair.js'
import type { ReplicaClient } from './replica-client.js'

export interface SurveyComponents {
  client: ReplicaClient
  placement: Placement
  repair: ReadRepair
  clock: Clock
  /** Whether anti-entropy confirmed every live replica since the ring changed (AntiEntropy.settled). */
  settled: () => boolean
}

/** The read half of ReplicatedStore: which replicas to ask for a key's record, and when enough answered. */
export class Survey {
  constructor (private readonly c: SurveyComponents) {}

  /**
   * Asks R = N - W + 1 live replicas (self first, then by preference; all of
   * them while the ring is not settled, see AntiEntropy.settled) for
   * their record of the key (`fetch`: the first remote one, when self is not
   * a replica, with the bytes of a small live value too),
   * so that at least one of them took part in any acknowledged write; a
   * replica that fails is replaced by the next one, and one that is slow
   * (SURVEY_SPECULATE_MS) by all the others. Resolves once R answered, or
   * sooner when an answer is `enough`. Read repair runs over the answers
   * once every replica asked answered or failed.
   */
  async run (key: string, targets: Target[], how: { fetch?: boolean, enough?: (a: SurveyAnswer) => boolean } = {}): Promise<SurveyAnswer[]> {
    const order = this.c.placement.readOrder(key, targets)
    const r = this.c.placement.n() - this.c.placement.w() + 1
    // Until anti-entropy has confirmed every replica since the ring changed, R answers prove nothing absent: wait for them all.
    const wanted = this.c.settled() ? r : order.length
    return await new Promise((resolve, reject) => {
      const answers: SurveyAnswer[] = []
      let asked = 0
      let pending = 0
      let settled = false
      const settle = (): void => {
        if (settled) return
        settled = true
        speculate.cancel()
        if (answers.length >= r || answers.some(a => how.enough?.(a) === true)) resolve([...answers])
        else reject(new PmzError('ERR_QUORUM_NOT_MET', `${answers.length} replicas answered, ${r} needed`, { details: { key, answered: answers.length, readQuorum: r } }))
      }
      // The bytes of a small value come from one replica, and only when this peer holds none itself.
      const wantBytes = how.fetch === true && !order.some(t => t.isSelf)
      let bytesAsked = false
      const ask = (): void => {
        const t = order[asked++]
        pending++
        const fetch = wantBytes && !bytesAsked
        if (fetch) bytesAsked = true
        const question = fetch ? this.c.client.fetch(t, key) : this.c.client.entry(t, key).then(entry => ({ entry }))
        question.then(a => {
          const answer: SurveyAnswer = { target: t, ...a }
          answers.push(answer)
          if (answers.length >= wanted || how.enough?.(answer) === true) settle()
        }, () => {
          if (fetch) bytesAsked = false
          if (!settled && asked < order.length) ask()
        }).finally(() => {
          if (--pending > 0) return
          settle()
          this.c.repair.schedule(key, answers, newestOf(answers))
        })
      }
      const speculate = this.c.clock.setTimeout(() => { while (!settled && asked < order.length) ask() }, SURVEY_SPECULATE_MS)
      if (order.length === 0) settle()
      while (asked < Math.min(wanted, order.length)) ask()
    })
  }
}
