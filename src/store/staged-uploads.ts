import { randomUUID } from 'node:crypto'
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { ContentUpload } from './content-upload.js'
import type { ValueRecord } from './record.js'
import type { Key } from './key.js'

/** A value received whole but not committed: its content and the record it will get (all but the version). */
export interface Staged {
  key: Key
  upload: ContentUpload
  record: ValueRecord
  last: Buffer | undefined
}

/**
 * Values staged on a replica ahead of the decision that commits them
 * (ReplicaStore.stage): a large value's bytes travel once, before the small
 * Paxos messages, so a proposal that loses a ballot can try again without
 * the body. An upload is pending in LMDB until it commits (a crash leaves
 * nothing), and one never committed is removed after `ttlMs`.
 */
export class StagedUploads {
  private readonly staged = new Map<string, Staged & { timer: Timer }>()

  constructor (private readonly c: { clock: Clock, log: Logger }, private readonly ttlMs: number) {}

  add (s: Staged): string {
    const id = randomUUID()
    const timer = this.c.clock.setTimeout(() => { void this.discard(id) }, this.ttlMs)
    this.staged.set(id, { ...s, timer })
    return id
  }

  get (id: string): Staged | undefined {
    return this.staged.get(id)
  }

  /** Forgets a staged value whose content now belongs to a record. */
  consumed (id: string): void {
    this.staged.get(id)?.timer.cancel()
    this.staged.delete(id)
  }

  /** Removes a staged value and its content (no-op when it is gone). */
  async discard (id: string): Promise<void> {
    const s = this.staged.get(id)
    if (s === undefined) return
    this.consumed(id)
    await s.upload.abort().catch(err => this.c.log.error({ err, key: s.key }, 'removing a staged upload failed'))
  }

  async discardAll (): Promise<void> {
    for (const id of [...this.staged.keys()]) await this.discard(id)
  }
}
