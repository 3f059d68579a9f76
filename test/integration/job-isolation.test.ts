// A seed that throws, exits or loops forever fails alone: the peer that runs
// it keeps serving and keeps running other jobs (issue 14). Real bin/pmz,
// real child processes. Needs `npm run build`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, launch, settled } from '../helpers/jobs.js'
import { cleanupPeers, killPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'




describe('a misbehaving seed fails alone (issue 14)', () => {
  let a: Peer

  beforeAll(async () => {
    const seeds = tempDir('pmz-isolation-seeds-')
    mkdirSync(join(seeds, 'bad'))
    writeFileSync(join(seeds, 'bad/throws.mjs'), 'export default () => { throw new Error("thrown on purpose") }\n')
    writeFileSync(join(seeds, 'bad/exits.mjs'), 'export default () => { process.exit(3) }\n')
    writeFileSync(join(seeds, 'bad/spins.mjs'), 'export const timeoutMs = 500\nexport default () => { for (;;) {} }\n')
    writeFileSync(join(seeds, 'bad/fine.mjs'), 'export default (args) => ({ echo: args.n })\n')
    a = await startPeer({ args: ['--seeds', seeds, '--job-slots', '4'] })
    await waitFor(async () => ((await http('GET', `${a.url}/admin/job_catalog`)).json?.data as unknown[] | undefined)?.length === 4,
      15_000, 'the seeds in the catalog')
  }, 30_000)

  afterAll(cleanupPeers)

  it('fails the throwing, exiting and spinning jobs with their reasons while the peer serves and runs a good job', async () => {
    const [throws, exits, spins] = await Promise.all(['bad/throws', 'bad/exits', 'bad/spins'].map(async s => await launch(a, s)))
    const good = await launch(a, 'bad/fine', { n: 7 })
    expect(await settled(a, good)).toMatchObject({ state: 'ready', output: { echo: 7 } })
    expect(await settled(a, throws)).toMatchObject({ state: 'failed', error: expect.stringContaining('thrown on purpose') })
    expect(await settled(a, exits)).toMatchObject({ state: 'failed', error: expect.stringMatching(/exit/i) })
    expect(await settled(a, spins)).toMatchObject({ state: 'failed', error: 'timed out after 500 ms' })
    expect((await http('GET', `${a.url}/admin/status`)).status).toBe(200)
    expect(await settled(a, await launch(a, 'bad/fine', { n: 8 }))).toMatchObject({ state: 'ready', output: { echo: 8 } })
    expect(a.proc.exitCode).toBeNull()
  })

  it('a kill -9 of the peer takes the processes of its running jobs with it (no orphan runs on while the job runs elsewhere)', async () => {
    const seeds = tempDir('pmz-isolation-seeds-')
    mkdirSync(join(seeds, 'bad'))
    // Its argument (JSON on stdin) names the file it writes the pids of its shell and of its sleep to; then it waits.
    writeFileSync(join(seeds, 'bad/lingers.sh'), '#!/bin/sh\nout=$(sed \'s/.*"out":"\\([^"]*\\)".*/\\1/\')\nsleep 300 &\necho "$$ $!" > "$out"\nwait\n', { mode: 0o755 })
    const b = await startPeer({ args: ['--seeds', seeds] })
    await waitFor(async () => ((await http('GET', `${b.url}/admin/job_catalog`)).json?.data as unknown[] | undefined)?.length === 1, 15_000, 'the seed in the catalog')
    const pidFile = join(tempDir('pmz-isolation-pids-'), 'pids')
    await launch(b, 'bad/lingers', { out: pidFile })
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').includes(' '), 15_000, 'the job to start its sleep')
    const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number)
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0)
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z')
      } catch {
        return false
      }
    }
    expect(pids.every(alive)).toBe(true)
    await killPeer(b)
    try {
      await waitFor(() => !pids.some(alive), 5_000, 'the shell and its sleep to die with the peer')
    } finally {
      for (const pid of pids) try { process.kill(pid, 'SIGKILL') } catch {}
    }
  })
})
