// How many instances a stage runs on a peer (Impetus): one more while the
// inbox backlog outgrows the instances (one start at a time), one fewer when
// an instance has been idle for `idleMs` (keeping one). A failed start waits
// for its backoff. Pure.

export interface ScaleInput {
  now: number
  /** Instances up (busy or idle). */
  instances: number
  /** Instances being started (setup running). */
  starting: number
  /** Packets waiting in the inbox. */
  backlog: number
  maxInstances: number
  /** Packets waiting per instance above which one more starts. */
  backlogPerInstance: number
  /** For each idle instance: since when, ms. */
  idleSince: readonly number[]
  idleMs: number
  /** No start before this (backoff after a failed setup), ms. */
  notBefore?: number
  /** The stage takes work (running or paused); otherwise no instance starts. */
  active: boolean
}

export type ScaleDecision = { action: 'none' } | { action: 'start' } | { action: 'stop', index: number }

export function decideScale (s: ScaleInput): ScaleDecision {
  const total = s.instances + s.starting
  const mayStart = s.active && s.starting === 0 && total < Math.max(1, s.maxInstances) && (s.notBefore === undefined || s.now >= s.notBefore)
  if (mayStart && (total === 0 || s.backlog > total * s.backlogPerInstance)) return { action: 'start' }
  if (s.instances > 1 && s.backlog === 0) {
    let oldest = -1
    for (let i = 0; i < s.idleSince.length; i++) {
      if (s.now - s.idleSince[i] >= s.idleMs && (oldest < 0 || s.idleSince[i] < s.idleSince[oldest])) oldest = i
    }
    if (oldest >= 0) return { action: 'stop', index: oldest }
  }
  return { action: 'none' }
}
