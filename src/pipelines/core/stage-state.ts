// A stage's lifecycle on one peer, moved by PipeRT's events. Pure: the engine
// applies the effects (start or stop instances, nack the inbox).
//   running --pause--> paused --resume--> running
//   running|paused --stop--> stopping --drained--> stopped (inbox served, then instances stop)
//   any --kill--> stopped (instances killed; inbox and running packets nacked: senders redeliver)
//   stopped --start--> running (and a stopping or paused stage)
import type { LifecycleEvent, StageState } from '../types.js'

export const LIFECYCLE_EVENTS: ReadonlySet<string> = new Set<LifecycleEvent>(['start', 'pause', 'resume', 'stop', 'kill'])

export interface StageTransition {
  state: StageState
  /** Start the first instance (a stopped stage was started). */
  startInstances?: boolean
  /** Stop the instances after their packet (drain) or at once (kill). */
  stopInstances?: 'drain' | 'kill'
  /** Nack the inbox and the packets running. */
  nackAll?: boolean
}

/** The state after `event` (a lifecycle event, or `drained` once a stopping stage has nothing left). */
export function applyEvent (state: StageState, event: LifecycleEvent | 'drained'): StageTransition {
  switch (event) {
    case 'start':
      if (state === 'stopped') return { state: 'running', startInstances: true }
      return { state: 'running' }
    case 'resume':
      return { state: state === 'paused' ? 'running' : state }
    case 'pause':
      return { state: state === 'running' ? 'paused' : state }
    case 'stop':
      return { state: state === 'running' || state === 'paused' ? 'stopping' : state }
    case 'drained':
      return state === 'stopping' ? { state: 'stopped', stopInstances: 'drain' } : { state }
    case 'kill':
      return state === 'stopped' ? { state } : { state: 'stopped', stopInstances: 'kill', nackAll: true }
  }
}

/** New packets are queued (running, paused) or nacked (stopping, stopped). */
export function accepts (state: StageState): boolean { return state === 'running' || state === 'paused' }

/** The inbox is served (running, and stopping while it drains). */
export function serves (state: StageState): boolean { return state === 'running' || state === 'stopping' }
