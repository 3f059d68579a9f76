import { request } from 'undici'
import { CliError } from '../client.js'
import { runCheck, type CheckSummary, type Http } from '../check/workload.js'

export interface CheckFlags { token?: string, seconds?: string, workers?: string, contenders?: string, json?: boolean, keep?: boolean }

/**
 * `pmz check [--gateway URL...]`: a consistency check of a
 * running cluster (see check/workload.ts) under `pmzcheck/`; the keys it
 * wrote are deleted at the end unless --keep. Exits non-zero on a violation.
 */
export async function check (gateways: string[], flags: CheckFlags): Promise<void> {
  const seconds = whole(flags.seconds ?? '30', '--seconds', 1)
  const workers = whole(flags.workers ?? '4', '--workers', 1)
  const contenders = whole(flags.contenders ?? '3', '--contenders', 1)
  const bases = gateways.map(g => g.replace(/\/+$/, ''))
  const http: Http = async (method, url, body) => {
    const headers: Record<string, string> = flags.token === undefined ? {} : { authorization: `Bearer ${flags.token}` }
    if (body !== undefined) headers['content-length'] = String(body.length)
    const res = await request(url, { method: method as 'GET', body, headers })
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) }
  }
  // Every gateway must answer before the run: a typo is one line, not a run of unknowns.
  for (const base of bases) {
    try {
      await http('GET', `${base}/admin/status`)
    } catch (err) {
      throw new CliError(`cannot reach the gateway at ${base}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const log = (line: string): void => { if (flags.json !== true) process.stderr.write(`${line}\n`) }
  log(`pmz check: ${seconds} s through ${bases.length} gateway(s), ${workers} keys at once, ${contenders} concurrent add_key per round`)
  const s = await runCheck({ gateways: () => bases, http, durationMs: seconds * 1000, workers, contenders, cleanup: flags.keep !== true, log })
  if (flags.json === true) process.stdout.write(`${JSON.stringify(s)}\n`)
  else process.stdout.write(report(s))
  if (s.violations.length > 0) process.exitCode = 1
}

function report (s: CheckSummary): string {
  const lines = [
    `keys ${s.keys}, rounds ${s.rounds}`,
    `add_key: ${s.creates.ok} created, ${s.creates.exists} duplicates (409), ${s.creates.refused} refused, ${s.creates.unknown} unknown outcome`,
    `delete_key: ${s.deletes.ok} deleted, ${s.deletes.absent} not found, ${s.deletes.refused} refused, ${s.deletes.unknown} unknown outcome`,
    `reads: ${s.reads} checked, ${s.readsFailed} unavailable; final check ${s.finalReads} reads${s.settledAfterMs >= 0 ? `, settled after ${s.settledAfterMs} ms` : ''}`,
    s.violations.length === 0 ? 'OK: every acknowledged write read back, one 201 per round, no refused write changed anything' : `FAILED: ${s.violations.length} violation(s)`,
    ...s.violations.slice(0, 20).map(v => `  ${v.key}: ${v.what}`)
  ]
  return `${lines.join('\n')}\n`
}

function whole (raw: string, flag: string, min: number): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: expected a whole number >= ${min}, got "${raw}"`)
  return n
}
