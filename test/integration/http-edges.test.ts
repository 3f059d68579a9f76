import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http } from '../helpers/http.js'
import { cleanupPeers, runCli, startPeer, type Peer } from '../helpers/peer.js'

const KO = { data: null, status: 'ko', msg: expect.any(String) }

describe('HTTP edges of one peer (issue 12)', () => {
  let peer: Peer
  beforeAll(async () => {
    peer = await startPeer()
  })
  afterAll(cleanupPeers)

  it('refuses a temporal that cannot be a date (400) and lists a far one (item 4)', async () => {
    for (const bad of ['99999999999999999999', '10000001']) {
      const res = await http('PUT', `${peer.url}/add_key/t/absurd?temporal=${bad}`, 'x')
      expect(res.status, bad).toBe(400)
      expect(res.json).toEqual(KO)
    }
    expect((await http('PUT', `${peer.url}/add_key/t/far?temporal=10000000`, 'x')).status).toBe(201)
    const listed = await http('GET', `${peer.url}/admin/keys?prefix=/t/`)
    expect(listed.status).toBe(200)
    expect(listed.json!.data.map((r: { key: string }) => r.key)).toEqual(['/t/far'])
    expect(Number.isFinite(Date.parse(listed.json!.data[0].expires))).toBe(true)
    const ls = await runCli(['ls', 't', '--gateway', peer.url])
    expect(ls.stderr).toBe('')
    expect(ls.code).toBe(0)
    expect(ls.stdout.toString()).toMatch(/\/t\/far {2}\(expires /)
  })
})
