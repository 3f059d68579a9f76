import type { Clock } from './clock.js'

/**
 * A hybrid logical clock timestamp (Kulkarni et al., 2014), encoded as a
 * fixed-width string `wwwwwwwwwwww.llll.peerId` (hex wall-clock ms, hex logical
 * counter, then the issuing peer) so that plain string comparison orders
 * versions: later physical time first, then the logical counter, then the
 * peer id as a deterministic tie-break.
 */
export type HlcTimestamp = string

const WALL_HEX = 12
const LOGICAL_HEX = 4
const MAX_LOGICAL = 0xffff

export interface HlcParts { wall: number, logical: number, peerId: string }

export function encodeHlc ({ wall, logical, peerId }: HlcParts): HlcTimestamp {
  return `${wall.toString(16).padStart(WALL_HEX, '0')}.${logical.toString(16).padStart(LOGICAL_HEX, '0')}.${peerId}`
}

export function decodeHlc (ts: HlcTimestamp): HlcParts {
  const wall = parseInt(ts.slice(0, WALL_HEX), 16)
  const logical = parseInt(ts.slice(WALL_HEX + 1, WALL_HEX + 1 + LOGICAL_HEX), 16)
  const peerId = ts.slice(WALL_HEX + LOGICAL_HEX + 2)
  if (!Number.isFinite(wall) || !Number.isFinite(logical)) throw new TypeError(`not an HLC timestamp: ${ts}`)
  return { wall, logical, peerId }
}

/** Negative when a is older than b, 0 when equal, positive when newer. */
export function compareHlc (a: HlcTimestamp, b: HlcTimestamp): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Issues monotonically increasing timestamps and folds in the ones it receives. */
export class HybridLogicalClock {
  private wall = 0
  private logical = 0

  constructor (private readonly peerId: string, private readonly clock: Pick<Clock, 'now'>) {}

  /** A timestamp for a local event, greater than every one seen so far. */
  now (): HlcTimestamp {
    const physical = this.clock.now()
    if (physical > this.wall) {
      this.wall = physical
      this.logical = 0
    } else {
      this.tick()
    }
    return encodeHlc({ wall: this.wall, logical: this.logical, peerId: this.peerId })
  }

  /** Folds in a timestamp from another peer, so later local events order after it. */
  update (remote: HlcTimestamp): void {
    const r = decodeHlc(remote)
    const physical = this.clock.now()
    const wall = Math.max(physical, this.wall, r.wall)
    if (wall === this.wall && wall === r.wall) this.logical = Math.max(this.logical, r.logical)
    else if (wall === r.wall) this.logical = r.logical
    else if (wall !== this.wall) this.logical = -1
    this.wall = wall
    this.tick()
  }

  private tick (): void {
    if (this.logical >= MAX_LOGICAL) {
      // The counter is full: borrow a millisecond from the future rather than wrap.
      this.wall += 1
      this.logical = 0
    } else {
      this.logical += 1
    }
  }
}
