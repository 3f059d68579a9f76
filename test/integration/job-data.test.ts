// pulzar_data and big outputs end to end (issue 14, pulzar-api.md §6.3): on 3
// peers with N=2 a key lives on two of them; a job launched with the key runs
// on one of those two and reads the value from a local file; an output over
// 1 MB lands in the store under the key admin/jobs/{id} names.
// Needs `npm run build` (bin/pmz runs dist/).
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, liveKeysOnDisk } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0
if (!HAS_PYTHON) console.log('job-data: the Python test is skipped: python3 is not installed')
const JSON_HEADERS = { 'content-type': 'application/json' }

const READ = `import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { basename } from 'node:path'
export default (args, ctx) => {
  const bytes = readFileSync(ctx.dataFile)
  return { peer: ctx.peerId, name: basename(ctx.dataFile), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'),
    text: bytes.length < 1000 ? bytes.toString() : null, args }
}
`
const BIG = 'export default args => "0123456789abcdef".repeat(args.n)\n'
const READ_PY = 'import os\nfrom pulzarcore.core_jobs import CoreJobs\n\nclass Readpy(CoreJobs):\n    def execute(self):\n' +
  '        self.read_it()\n        return self.is_the_job_ok()\n\n    @CoreJobs._pulzar_run_job\n    def read_it(self):\n' +
  '        with open(self.pulzar_get_filepath()) as f:\n            self.pulzar_set_output(os.environ["PMZ_PEER_ID"])\n            self.pulzar_set_output(f.read())\n'
const READ_SH = '#!/bin/sh\nprintf "%s:" "$PMZ_PEER_ID"\ncat "$PMZ_DATA_FILE"\n'

interface Detail { state: string, status: string, output: any, node: string | null, error: string | null, output_key?: string, output_url?: string }

async function launch (peer: Peer, seed: string, args: unknown): Promise<number> {
  let id = 0
  // The coordinator may still be forming: a launch is retried until one is elected.
  await waitFor(async () => {
    const res = await http('POST', `${peer.url}/launch_job/${seed}`, JSON.stringify(args), JSON_HEADERS)
    if (res.status !== 200 && res.status !== 503) throw new Error(`launch answered ${res.status}: ${JSON.stringify(res.json)}`)
    id = (res.json?.data as { job_id?: number } | null)?.job_id ?? 0
    return res.status === 200
  }, 15_000, `a launch of ${seed}`)
  return id
}

async function settled (peer: Peer, id: number, timeoutMs = 20_000): Promise<Detail> {
  let last: Detail | undefined
  await waitFor(async () => {
    const res = await http('GET', `${peer.url}/admin/jobs/${id}`)
    last = res.status === 200 ? res.json?.data as Detail : undefined
    return last !== undefined && ['ready', 'failed', 'cancelled'].includes(last.state)
  }, timeoutMs, `job ${id} to end`)
  return last!
}

describe('pulzar_data and big outputs on 3 peers with N=2 (issue 14)', () => {
  let peers: Peer[]
  const big = randomBytes(600 * 1024) // larger than a chunk: a blob file in the store
  let smallHolders: string[]
  let bigHolders: string[]

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    const dirs = [0, 1, 2].map(i => {
      const seeds = tempDir(`pmz-jobdata-${i}-`)
      mkdirSync(join(seeds, 'data'))
      writeFileSync(join(seeds, 'data/read.mjs'), READ)
      writeFileSync(join(seeds, 'data/big.mjs'), BIG)
      writeFileSync(join(seeds, 'data/readpy.py'), READ_PY)
      writeFileSync(join(seeds, 'data/readsh.sh'), READ_SH)
      chmodSync(join(seeds, 'data/readsh.sh'), 0o755)
      return seeds
    })
    const flags = (i: number): string[] => ['--seeds', dirs[i], '--replicas', '2', '--write-quorum', '2', '--job-slots', '1']
    const a = await startPeer({ cluster, args: flags(0) })
    const rest = await Promise.all([1, 2].map(i => startPeer({ cluster, args: [...flags(i), '--join', a.mesh] })))
    peers = [a, ...rest]
    await converged(peers, peers.map(p => p.id), 15_000)
    await waitFor(async () => {
      const res = await http('GET', `${a.url}/admin/job_catalog`)
      const rows = (res.json?.data ?? []) as Array<{ path: string, peers: string[] }>
      return ['data/read', 'data/big', 'data/readsh'].every(s => rows.find(r => r.path === s)?.peers.length === 3)
    }, 15_000, 'the seeds on all three peers')
    await waitFor(async () => (await http('PUT', `${a.url}/add_key/loc/hello.txt`, 'hello from the store')).status === 201, 15_000, 'a stored key')
    expect((await http('PUT', `${a.url}/add_key/loc/big.bin`, big)).status).toBe(201)
    // W = N = 2: both replicas committed before the 201.
    const holdersOf = (key: string): string[] => peers.filter(p => liveKeysOnDisk(p.dataDir).includes(key)).map(p => p.id).sort()
    smallHolders = holdersOf('/loc/hello.txt')
    bigHolders = holdersOf('/loc/big.bin')
    expect(smallHolders).toHaveLength(2)
    expect(bigHolders).toHaveLength(2)
  }, 60_000)

  afterAll(cleanupPeers)

  it('runs JS jobs only on replicas of the key; each reads the value from a local file named like the key', async () => {
    const [a, b, c] = peers
    // Four at once, one slot per peer: without locality the third peer would take one.
    const ids = await Promise.all([a, b, c, a].map(async (p, i) => await launch(p, 'data/read', { pulzar_data: i % 2 === 0 ? '/loc/big.bin' : 'loc/big.bin', i })))
    const sha = createHash('sha256').update(big).digest('hex')
    for (const id of ids) {
      const job = await settled(a, id)
      expect(job.state, job.error ?? '').toBe('ready')
      expect(bigHolders).toContain(job.node)
      expect(job.output).toMatchObject({ peer: job.node, name: 'big.bin', size: big.length, sha256: sha })
    }
    const small = await settled(b, await launch(c, 'data/read', { pulzar_data: '/loc/hello.txt' }))
    expect(smallHolders).toContain(small.node)
    expect(small.output).toMatchObject({ text: 'hello from the store', args: { pulzar_data: '/loc/hello.txt' } })
  })

  it('gives an executable the file in PMZ_DATA_FILE', async () => {
    const job = await settled(peers[0], await launch(peers[1], 'data/readsh', { pulzar_data: '/loc/hello.txt' }))
    expect(job.state, job.error ?? '').toBe('ready')
    expect(smallHolders).toContain(job.node)
    expect(job.output).toBe(`${job.node}:hello from the store`)
  })

  it.skipIf(!HAS_PYTHON)('gives a Pulzar Python class the file through pulzar_get_filepath()', async () => {
    const job = await settled(peers[0], await launch(peers[2], 'data/readpy', { pulzar_data: '/loc/hello.txt' }))
    expect(job.state, job.error ?? '').toBe('ready')
    expect(smallHolders).toContain(job.node)
    expect(job.output).toBe(`${job.node}\nhello from the store`)
  })

  it('refuses an unknown key (404) and one that is not a key (400) at launch', async () => {
    const [a] = peers
    const unknown = await http('POST', `${a.url}/launch_job/data/read`, '{"pulzar_data": "/loc/none.txt"}', JSON_HEADERS)
    expect(unknown.status).toBe(404)
    expect(unknown.json).toMatchObject({ status: 'ko', data: null })
    for (const bad of ['{"pulzar_data": 7}', '{"pulzar_data": "/a//b"}', '{"pulzar_data": "/bad key"}']) {
      const res = await http('POST', `${a.url}/launch_job/data/read`, bad, JSON_HEADERS)
      expect(res.status, bad).toBe(400)
      expect(res.json?.status).toBe('ko')
    }
  })

  it('puts an output over 1 MB into the store; the job view names its key and where to GET it', async () => {
    const [a, b] = peers
    const n = 70_000 // 16 bytes each: 1.07 MiB
    const job = await settled(a, await launch(b, 'data/big', { n }))
    expect(job.state, job.error ?? '').toBe('ready')
    expect(job.output).toBeNull()
    expect(job.output_key).toMatch(/^\/_jobs\/\d+\/1\/output$/)
    expect(job.output_url).toBe(`/get_key${job.output_key!}`)
    const got = await http('GET', `${b.url}${job.output_url!}`)
    expect(got.status).toBe(200)
    expect(got.body.toString()).toBe('0123456789abcdef'.repeat(n))
    // A smaller output stays inline.
    const small = await settled(a, await launch(a, 'data/big', { n: 2 }))
    expect(small).toMatchObject({ output: '0123456789abcdef'.repeat(2) })
    expect(small.output_key).toBeUndefined()
  })
})
