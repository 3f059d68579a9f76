// The calls and replies of one turn between a stage instance and its thread
// or process, as columns (../columns.ts): the runs of a turn cross as one
// `runs` message, the results as one `results` message and a pull's items
// as columns, so that structured clone copies a few arrays and one block of
// bytes per batch, not an object graph per packet. The other side expands
// them back into the messages they stand for, in order. Pure.
import { itemsFromColumns, itemsToColumns, packetsFromColumns, packetsToColumns } from '../columns.js'
import type { ChildMessage, Emitted, ParentMessage } from './stage-messages.js'

type Run = Extract<ParentMessage, { type: 'run' }>
type Result = Extract<ChildMessage, { type: 'result' }>

/** Consecutive runs (two or more) as one `runs` message; the rest as they are, in order. */
export function compactCalls (msgs: ParentMessage[]): ParentMessage[] {
  const out: ParentMessage[] = []
  let runs: Run[] = []
  const close = (): void => {
    if (runs.length === 1) out.push(runs[0])
    else if (runs.length > 1) out.push({ type: 'runs', ids: runs.map(r => r.id), packets: packetsToColumns(runs.map(r => r.packet)) })
    runs = []
  }
  for (const m of msgs) {
    if (m.type === 'run') { runs.push(m); continue }
    close()
    out.push(m)
  }
  close()
  return out
}

/** A `runs` message as the runs it stands for; any other as itself. */
export function expandCall (msg: ParentMessage): ParentMessage[] {
  if (msg.type !== 'runs') return [msg]
  const packets = packetsFromColumns(msg.packets)
  return packets.map((packet, i) => ({ type: 'run', id: msg.ids[i], packet }))
}

/** Consecutive results (two or more) as one `results` message, a pull's items as columns; the rest as they are, in order. */
export function compactReplies (msgs: ChildMessage[]): ChildMessage[] {
  const out: ChildMessage[] = []
  let results: Result[] = []
  const close = (): void => {
    if (results.length === 1) out.push(results[0])
    else if (results.length > 1) {
      const items: Emitted[] = []
      for (const r of results) for (const e of r.emitted) items.push(e)
      out.push({
        type: 'results',
        ids: results.map(r => r.id),
        oks: results.map(r => r.ok),
        errors: results.map(r => r.error ?? null),
        counts: results.map(r => r.emitted.length),
        items: itemsToColumns(items)
      })
    }
    results = []
  }
  for (const m of msgs) {
    if (m.type === 'result') { results.push(m); continue }
    close()
    if (m.type === 'pulled' && m.items.length > 1) out.push({ ...m, items: [], cols: itemsToColumns(m.items) })
    else out.push(m)
  }
  close()
  return out
}

/** A `results` message as the results it stands for, a pull's columns as its items; any other as itself. */
export function expandReply (msg: ChildMessage): ChildMessage[] {
  if (msg.type === 'pulled' && msg.cols !== undefined) {
    const { cols, ...rest } = msg
    return [{ ...rest, items: itemsFromColumns(cols) as Emitted[] }]
  }
  if (msg.type !== 'results') return [msg]
  const items = itemsFromColumns(msg.items) as Emitted[]
  const out: ChildMessage[] = []
  let at = 0
  for (let i = 0; i < msg.ids.length; i++) {
    const emitted = items.slice(at, at + msg.counts[i])
    at += msg.counts[i]
    const error = msg.errors[i]
    out.push({ type: 'result', id: msg.ids[i], ok: msg.oks[i], emitted, ...(error !== null ? { error } : {}) })
  }
  return out
}

/** The buffers of the columns in `msgs` (each one of their own): moved to a thread rather than copied. */
export function columnBuffers (msgs: Array<ParentMessage | ChildMessage>): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  for (const m of msgs) {
    const bytes = m.type === 'runs' ? m.packets.bytes : m.type === 'results' ? m.items.bytes : m.type === 'pulled' ? m.cols?.bytes : undefined
    if (bytes !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) out.push(bytes.buffer)
  }
  return out
}
