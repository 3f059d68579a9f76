import { afterEach, describe, expect, it, vi } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { DOWNLOAD_FAILED, clusterOrigins, loadImageSource, resolveImageSource } from '../../../src/extensions/imagematching/image-source.js'
import type { Store } from '../../../src/store/index.js'

const US = 'http://127.0.0.1:31414'
const PEER_B = 'http://10.0.0.2:31414'
const ours = clusterOrigins(US, () => [US, PEER_B])

const key = (k: string): { type: 'key', key: string } => ({ type: 'key', key: k })
const resolved = (imageUrl: string): unknown => {
  const s = resolveImageSource(imageUrl, ours)
  return s.type === 'key' ? s : { type: 'url', url: s.url.href }
}
const refusal = (imageUrl: string): unknown => {
  try {
    resolveImageSource(imageUrl, ours)
  } catch (err) {
    return isPmzError(err) ? { code: err.code, status: err.status, message: err.message } : err
  }
  return 'resolved'
}

describe('resolveImageSource: what an imagematching image_url names (issue 20)', () => {
  it('a key, and a get_key URL of any gateway of the cluster, name a key', () => {
    expect(resolved('/images/scene.png')).toEqual(key('/images/scene.png'))
    // Without its leading / too, as pulzar_data takes it: a string with no `:` is no absolute URL.
    expect(resolved('images/scene.png')).toEqual(key('/images/scene.png'))
    expect(resolved(`${US}/get_key/images/scene.png`)).toEqual(key('/images/scene.png'))
    expect(resolved(`${PEER_B}/get_key/a%7Cb/%7Bc%7D.png`)).toEqual(key('/a|b/{c}.png'))
    // Host names are case-insensitive and a default port is no port.
    expect(resolveImageSource('http://PEER:80/get_key/x.png', clusterOrigins('http://peer', undefined))).toEqual(key('/x.png'))
  })

  it('Pulzar\'s script form, the base URL prefixed to data.url unencoded, names the key (nested, or with merged slashes too)', () => {
    expect(resolved(`${US}/${US}/get_key/base_image_matching_test.png`)).toEqual(key('/base_image_matching_test.png'))
    expect(resolved(`${US}/${PEER_B}/get_key/dir/base.png`)).toEqual(key('/dir/base.png'))
    expect(resolved(`${PEER_B}/${US}/${US}/get_key/base.png`)).toEqual(key('/base.png'))
    expect(resolved(`${US}/http:/127.0.0.1:31414/get_key/base.png`)).toEqual(key('/base.png'))
  })

  it('a URL elsewhere is downloaded, also when it comes behind a URL of ours', () => {
    expect(resolved('http://images.example:8080/get_key/scene.png')).toEqual({ type: 'url', url: 'http://images.example:8080/get_key/scene.png' })
    expect(resolved(`${US}/https://images.example/a/b.png?size=2`)).toEqual({ type: 'url', url: 'https://images.example/a/b.png?size=2' })
    // The other port of the same host is not a gateway of ours.
    expect(resolved('http://127.0.0.1:8000/get_key/x.png')).toEqual({ type: 'url', url: 'http://127.0.0.1:8000/get_key/x.png' })
  })

  it('refuses other URLs of the cluster (get_key elsewhere in the path included), other schemes and garbage with 400', () => {
    const bad = { code: 'ERR_BAD_REQUEST', status: 400, message: DOWNLOAD_FAILED }
    expect(refusal(`${US}/extension/example/x`)).toEqual(bad)
    expect(refusal(`${US}/images/get_key/scene.png`)).toEqual(bad)
    expect(refusal(`${US}/`)).toEqual(bad)
    expect(refusal(`${US}/${US}/admin/status`)).toEqual(bad)
    expect(refusal('file:///etc/passwd')).toEqual(bad)
    expect(refusal(`${US}/file:///etc/passwd`)).toEqual(bad)
    expect(refusal('not a url')).toMatchObject({ code: 'ERR_KEY_INVALID', status: 400 })
    expect(refusal('localhost:8080/x.png')).toEqual(bad)
    expect(refusal(`${US}/get_key/a%00b.png`)).toMatchObject({ code: 'ERR_KEY_INVALID', status: 400 })
  })
})

describe('loadImageSource', () => {
  afterEach(() => { vi.restoreAllMocks() })

  it('reads a key named by a URL of another peer through the store, never over HTTP', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch')
    const reads: string[] = []
    const store = {
      get: async (k: string) => {
        reads.push(k)
        return { meta: { size: 3 }, body: Buffer.from('png') }
      }
    } as unknown as Store
    const options = { store, isClusterOrigin: ours, maxBytes: 1024, signal: new AbortController().signal }
    expect(await loadImageSource(`${US}/${PEER_B}/get_key/dir/base.png`, options)).toEqual(Buffer.from('png'))
    expect(await loadImageSource(`${PEER_B}/get_key/other.png`, options)).toEqual(Buffer.from('png'))
    expect(reads).toEqual(['/dir/base.png', '/other.png'])
    expect(fetch).not.toHaveBeenCalled()
  })
})
