// The decisions of a read survey, pure: whom to ask next, whether the
// answers so far are enough, when to speculate, when the survey resolves or
// rejects, and when read repair runs. No I/O, no clock: Survey (survey.ts)
// sends the questions, keeps the speculation timer and applies the effects.
import type { Target } from './placement.js'
import type { SurveyAnswer } from './read-repair.js'

/** Where a survey stands. Each step returns a new one. */
export interface SurveyState {
  /** The live replicas, in the order they are asked (self first, then by preference). */
  readonly order: readonly Target[]
  /** R = N - W + 1: answers that meet every acknowledged write. */
  readonly r: number
  /** Answers awaited before resolving: R, or every replica while the ring is not settled. */
  readonly wanted: number
  /** One remote replica is to send a small value's bytes with its record (a read through a peer that holds no copy). */
  readonly wantBytes: boolean
  /** How many of `order` were asked (always its first ones). */
  readonly asked: number
  /** Questions not answered nor failed yet. */
  readonly pending: number
  /** A question for the bytes is open or answered. */
  readonly bytesAsked: boolean
  /** Every answer so far, those after the survey ended too (read repair sees them). */
  readonly answers: readonly SurveyAnswer[]
  /** Some answer was enough on its own (the caller's `enough`). */
  readonly enough: boolean
  /** The survey resolved or rejected. */
  readonly settled: boolean
}

/** One question to send: to `target`, for the value's bytes too when `fetch`. */
export interface Question { target: Target, fetch: boolean }

export type SurveyEvent =
  /** A replica answered the question (`fetched`: the one for the bytes); `enough`: the caller's verdict on that answer alone. */
  | { type: 'answer', answer: SurveyAnswer, fetched: boolean, enough: boolean }
  /** A replica could not answer. */
  | { type: 'failure', fetched: boolean }
  /** The speculation timer (SURVEY_SPECULATE_MS) fired: some replica is slow. */
  | { type: 'speculate' }

/** What the host does after a step, in this order. */
export interface SurveyEffects {
  /** Questions to send now. */
  ask: Question[]
  /** Arm the speculation timer, or cancel it. */
  timer?: 'arm' | 'cancel'
  /** The survey ends: resolve with these answers, or reject (`answered` of the `needed`). */
  settle?: { type: 'resolve', answers: SurveyAnswer[] } | { type: 'reject', answered: number, needed: number }
  /** Every question asked has ended: read repair runs over these answers. */
  repair?: SurveyAnswer[]
}

export interface SurveyStep { state: SurveyState, effects: SurveyEffects }

/** What a survey starts from. */
export interface SurveyInit {
  order: readonly Target[]
  r: number
  /** Anti-entropy confirmed every live replica since the ring changed (AntiEntropy.settled). */
  ringSettled: boolean
  /** The caller wants the bytes of a small value too. */
  fetch: boolean
}

type Draft = { -readonly [K in keyof SurveyState]: SurveyState[K] }

/**
 * Starts a survey: asks R replicas, or every one while the ring is not
 * settled (until anti-entropy has confirmed every replica since the ring
 * changed, R answers prove nothing absent), and arms the speculation timer.
 * The bytes come from one replica, and only when this peer holds no copy
 * itself. No replica to ask: rejected at once.
 */
export function openSurvey (init: SurveyInit): SurveyStep {
  const d: Draft = {
    order: init.order,
    r: init.r,
    wanted: init.ringSettled ? init.r : init.order.length,
    wantBytes: init.fetch && !init.order.some(t => t.isSelf),
    asked: 0,
    pending: 0,
    bytesAsked: false,
    answers: [],
    enough: false,
    settled: false
  }
  const fx: SurveyEffects = { ask: [] }
  if (d.order.length === 0) {
    settle(d, fx)
    return { state: d, effects: { ask: [], settle: fx.settle } }
  }
  fx.timer = 'arm'
  while (d.asked < Math.min(d.wanted, d.order.length)) ask(d, fx)
  return { state: d, effects: fx }
}

/**
 * One event of a running survey. An answer resolves it once `wanted`
 * answered or it is enough alone; a failure is replaced by the next replica
 * (a failed question for the bytes passes it on); speculation asks every
 * replica not asked yet. When every question asked has ended the survey
 * settles (resolved when R answered or one was enough, else rejected) and
 * read repair runs over all the answers.
 */
export function step (s: SurveyState, e: SurveyEvent): SurveyStep {
  const d: Draft = { ...s }
  const fx: SurveyEffects = { ask: [] }
  switch (e.type) {
    case 'answer':
      d.answers = [...d.answers, e.answer]
      if (e.enough) d.enough = true
      if (d.answers.length >= d.wanted || e.enough) settle(d, fx)
      ended(d, fx)
      break
    case 'failure':
      if (e.fetched) d.bytesAsked = false
      if (!d.settled && d.asked < d.order.length) ask(d, fx)
      ended(d, fx)
      break
    case 'speculate':
      while (!d.settled && d.asked < d.order.length) ask(d, fx)
      break
  }
  return { state: d, effects: fx }
}

function ask (d: Draft, fx: SurveyEffects): void {
  const target = d.order[d.asked++]
  d.pending++
  const fetch = d.wantBytes && !d.bytesAsked
  if (fetch) d.bytesAsked = true
  fx.ask.push({ target, fetch })
}

/** A question ended; the last one open settles the survey and runs read repair. */
function ended (d: Draft, fx: SurveyEffects): void {
  if (--d.pending > 0) return
  settle(d, fx)
  fx.repair = [...d.answers]
}

function settle (d: Draft, fx: SurveyEffects): void {
  if (d.settled) return
  d.settled = true
  fx.timer = 'cancel'
  fx.settle = d.answers.length >= d.r || d.enough
    ? { type: 'resolve', answers: [...d.answers] }
    : { type: 'reject', answered: d.answers.length, needed: d.r }
}
