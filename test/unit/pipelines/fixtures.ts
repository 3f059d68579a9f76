import type { Packet, StageSpec } from '../../../src/pipelines/types.js'

/** A stage spec with defaults. */
export function spec (stage: string, consumes: string[], peers: string[], more: Partial<StageSpec> = {}): StageSpec {
  return { stage, consumes, peers, source: false, events: [], ...more }
}

/** A packet with defaults. */
export function packet (id: string, more: Partial<Packet> = {}): Packet {
  return { id, tag: 't', priority: 0, headers: {}, bornAt: 0, payload: id, ...more }
}
