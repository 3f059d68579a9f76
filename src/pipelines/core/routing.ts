// Where a packet goes (Pumpkin's routing, Storm's fields/shuffle groupings):
// to one peer of each stage consuming its tag. With a key, the rendezvous
// (highest random weight) hash of the key over the stage's live peers, so a
// key stays on one peer and moves only when that peer leaves; without, the
// least loaded peer as the sender sees it. Pure.

/** What the sender knows of a stage's peers. */
export interface RouteView {
  isAlive(peerId: string): boolean
  /** The sender's load estimate of `peerId` for `stage`: its unacked packets there plus the receiver's last reported inbox. */
  load(stage: string, peerId: string): number
  /** Whether the sender may send one more packet to `peerId` for `stage` (credit). @default always */
  hasCredit?(stage: string, peerId: string): boolean
}

/** FNV-1a of a string, then murmur3's finaliser so that close inputs spread. */
export function hash32 (s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Rendezvous hashing: the peer with the highest weight for `key` (ties: the smaller id). Undefined when none. */
export function rendezvous (key: string, peers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestWeight = -1
  const h = hash32(key)
  for (const peer of peers) {
    const w = hash32(peer, h)
    if (w > bestWeight || (w === bestWeight && best !== undefined && peer < best)) { best = peer; bestWeight = w }
  }
  return best
}

/**
 * The peer of `stage` for a packet: its key's rendezvous peer among the live
 * ones, or the least loaded live peer with credit (ties broken by the
 * packet id's rendezvous, so equal peers share the packets). Undefined when
 * no live peer can take it now (a keyed packet waits for its peer's credit,
 * so that a key's packets keep their order).
 */
export function routeOne (packet: { id: string, key?: string }, stage: { stage: string, peers: readonly string[] }, view: RouteView, exclude?: ReadonlySet<string>): string | undefined {
  const isLive = (p: string): boolean => view.isAlive(p) && exclude?.has(p) !== true
  const credit = (p: string): boolean => view.hasCredit?.(stage.stage, p) ?? true
  if (packet.key !== undefined) {
    const peer = rendezvous(packet.key, stage.peers.filter(isLive))
    return peer !== undefined && credit(peer) ? peer : undefined
  }
  // One pass, no array per packet unless loads tie.
  let min = Infinity
  let best: string | undefined
  let ties: string[] | undefined
  for (const p of stage.peers) {
    if (!isLive(p) || !credit(p)) continue
    const load = view.load(stage.stage, p)
    if (load < min) { min = load; best = p; ties = undefined } else if (load === min) (ties ??= [best as string]).push(p)
  }
  return ties === undefined ? best : rendezvous(packet.id, ties)
}
