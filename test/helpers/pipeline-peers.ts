// Helpers of the pipeline tests on real peers: seed directories, the status
// each peer answers, the graph learnt everywhere, what a sink wrote, RSS.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { PipelineStatus, StagePeerStatus } from '../../src/pipelines/types.js'
import { http, waitFor } from './http.js'
import { tempDir, type Peer } from './peer.js'

/** A fresh seeds directory holding `files` (path under the dir -> source text). */
export function seedDir (files: Record<string, string>): string {
  const dir = tempDir('pmz-pipe-seeds-')
  for (const [name, text] of Object.entries(files)) writeSeed(dir, name, text)
  return dir
}

export function writeSeed (dir: string, name: string, text: string): void {
  mkdirSync(dirname(join(dir, name)), { recursive: true })
  writeFileSync(join(dir, name), text)
}

/** The peer's admin/pipelines (undefined when it does not answer). */
export async function pipelineStatus (peer: Peer): Promise<PipelineStatus | undefined> {
  const res = await http('GET', `${peer.url}/admin/pipelines`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as PipelineStatus : undefined
}

/** One stage on one peer, as `viewer` sees it. */
export async function stageOn (viewer: Peer, stage: string, peerId: string): Promise<StagePeerStatus | undefined> {
  return (await pipelineStatus(viewer))?.stages.find(s => s.stage === stage)?.peers.find(p => p.peerId === peerId)
}

/**
 * Waits until every peer's graph has `tags` (tag -> the stages consuming it)
 * and every stage of `where` runs on exactly those peers (as the first peer
 * sees them).
 */
export async function graphLearnt (peers: Peer[], tags: Record<string, string[]>, where: Record<string, string[]>, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    for (const p of peers) {
      const s = await pipelineStatus(p)
      if (s === undefined) return false
      for (const [tag, stages] of Object.entries(tags)) if (!stages.every(st => s.tags[tag]?.includes(st) === true)) return false
    }
    const s = await pipelineStatus(peers[0])
    return Object.entries(where).every(([stage, ids]) =>
      s?.stages.find(x => x.stage === stage)?.peers.map(p => p.peerId).sort().join() === [...ids].sort().join())
  }, timeoutMs, 'the pipeline graph on every peer')
}

/** The lines a sink appended to `file` (none when it does not exist yet). */
export function sinkLines (file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(l => l !== '') : []
}

/** Resident set size (VmRSS) of a process, in bytes; 0 once it is gone. */
export function rss (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/** POST /pipelines/events/{event}; throws unless 200. */
export async function pipelineEvent (peer: Peer, event: string, body?: { stages?: string[], args?: unknown }): Promise<string[]> {
  const res = await http('POST', `${peer.url}/pipelines/events/${event}`, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' })
  if (res.status !== 200) throw new Error(`event ${event}: ${res.status} ${res.body.toString()}`)
  return (res.json?.data as { stages: string[] }).stages
}

/** POST /pipelines/inject/{tag} with a JSON payload; resolves with the packet id. */
export async function injectJson (peer: Peer, tag: string, payload: unknown, headers: Record<string, string> = {}): Promise<string> {
  const res = await http('POST', `${peer.url}/pipelines/inject/${tag}`, JSON.stringify(payload), { 'content-type': 'application/json', ...headers })
  if (res.status !== 200) throw new Error(`inject ${tag}: ${res.status} ${res.body.toString()}`)
  return (res.json?.data as { id: string }).id
}

/**
 * Checks that `fn` stays true for `ms` (polled every `intervalMs`): an
 * observation window for "nothing happens" (no packet processed while
 * paused), not a wait to synchronise on.
 */
export async function holds (fn: () => boolean | Promise<boolean>, ms: number, what: string, intervalMs = 100): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (!await fn()) throw new Error(`no longer true: ${what}`)
    if (Date.now() >= end) return
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
