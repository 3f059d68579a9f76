import type { Clock, Timer } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import { SURVEY_SPECULATE_MS } from './constants.js'
import type { Placement, Target } from './placement.js'
import { newestOf, type ReadRepair, type SurveyAnswer } from './read-repair.js'
import type { ReplicaClient } from './replica-client.js'
import { openSurvey, step, type Question, type SurveyEvent, type SurveyState, type SurveyStep } from './survey-rules.js'
import type { Key } from '../key.js'

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
   * once every replica asked answered or failed. The decisions are
   * survey-rules.ts's; this sends the questions and keeps the timer.
   */
  async run (key: Key, targets: Target[], how: { fetch?: boolean, enough?: (a: SurveyAnswer) => boolean } = {}): Promise<SurveyAnswer[]> {
    const order = this.c.placement.readOrder(key, targets)
    const r = this.c.placement.n() - this.c.placement.w() + 1
    return await new Promise((resolve, reject) => {
      let state: SurveyState
      let timer: Timer | undefined
      const on = (e: SurveyEvent): void => { apply(step(state, e)) }
      const apply = ({ state: next, effects }: SurveyStep): void => {
        state = next
        for (const q of effects.ask) ask(q)
        if (effects.timer === 'arm') timer = this.c.clock.setTimeout(() => { on({ type: 'speculate' }) }, SURVEY_SPECULATE_MS)
        else if (effects.timer === 'cancel') timer?.cancel()
        const end = effects.settle
        if (end?.type === 'resolve') resolve(end.answers)
        else if (end?.type === 'reject') reject(new PmzError('ERR_QUORUM_NOT_MET', `${end.answered} replicas answered, ${end.needed} needed`, { details: { key, answered: end.answered, readQuorum: end.needed } }))
        if (effects.repair !== undefined) this.c.repair.schedule(key, effects.repair, newestOf(effects.repair))
      }
      const ask = ({ target, fetch }: Question): void => {
        const question = fetch ? this.c.client.fetch(target, key) : this.c.client.entry(target, key).then(entry => ({ entry }))
        question.then(a => {
          const answer: SurveyAnswer = { target, ...a }
          on({ type: 'answer', answer, fetched: fetch, enough: how.enough?.(answer) === true })
        }, () => { on({ type: 'failure', fetched: fetch }) })
      }
      apply(openSurvey({ order, r, ringSettled: this.c.settled(), fetch: how.fetch === true }))
    })
  }
}
