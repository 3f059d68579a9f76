// The payload bytes of one batch of messages to or from a stage thread, in
// one fresh ArrayBuffer that is transferred, not cloned. Structured clone
// copies the whole ArrayBuffer under a Uint8Array: a payload decoded from
// a mesh message is a view into that message (up to a megabyte of other
// packets), and a cloned one is a backing store of its own on the other
// side for the GC to track. Here each payload is copied once, into one
// buffer per batch that moves to the other thread without a copy; the
// payloads there are views into it.
import type { Emitted, ParentMessage, ChildMessage } from './stage-messages.js'

type Message = ParentMessage | ChildMessage

/** The payloads of `msgs` that are bytes, with a setter for each. */
function byteSlots (msgs: Message[]): Array<{ bytes: Uint8Array, set(view: Uint8Array): void }> {
  const slots: Array<{ bytes: Uint8Array, set(view: Uint8Array): void }> = []
  const items = (list: Emitted[]): void => {
    for (const item of list) if (item.payload instanceof Uint8Array) slots.push({ bytes: item.payload, set: v => { item.payload = v } })
  }
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]
    if (m.type === 'run' && m.packet.payload instanceof Uint8Array) {
      const k = i
      // A copy of the packet: the engine keeps its own (a retry, a dead letter).
      slots.push({ bytes: m.packet.payload, set: v => { msgs[k] = { ...m, packet: { ...m.packet, payload: v } } } })
    } else if (m.type === 'result') items(m.emitted)
    else if (m.type === 'pulled') items(m.items)
  }
  return slots
}

/**
 * Moves the byte payloads of `msgs` into one new ArrayBuffer (replacing
 * messages or payloads in place with views into it); returns the buffer to
 * transfer, or undefined when no payload is bytes.
 */
export function packBatchBytes (msgs: Message[]): ArrayBuffer | undefined {
  const slots = byteSlots(msgs)
  if (slots.length === 0) return undefined
  let total = 0
  for (const s of slots) total += s.bytes.byteLength
  const buffer = new ArrayBuffer(total)
  const all = new Uint8Array(buffer)
  let at = 0
  for (const s of slots) {
    all.set(s.bytes, at)
    s.set(new Uint8Array(buffer, at, s.bytes.byteLength))
    at += s.bytes.byteLength
  }
  return buffer
}
