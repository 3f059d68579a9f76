// Calls to this peer's HTTP API (docs/http-api.md), with the bearer token when one is set.
// Every URL is relative to the page, so the dashboard works behind a path prefix too.

const TOKEN_KEY = 'pmz.token'
const listeners = new Set()
let skewMs = 0

/** An answer that was not 2xx: its HTTP status and the envelope's `msg`. */
export class ApiError extends Error {
  constructor (status, msg) {
    super(msg || `HTTP ${status}`)
    this.status = status
  }
}

/** The token of this tab (sessionStorage: gone when the tab closes), or ''. */
export function token () {
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

export function setToken (value) {
  if (value === '') sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, value)
  emit({ type: 'token' })
}

/** Hears `{type: 'unauthorized'}` (a call answered 401) and `{type: 'token'}` (the token changed). */
export function onAuth (fn) {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

function emit (e) {
  for (const fn of listeners) fn(e)
}

export function authHeaders () {
  const t = token()
  return t === '' ? {} : { authorization: `Bearer ${t}` }
}

/** The peer's clock minus the browser's, ms, from the last answer's Date header: ages are shown in the peer's time. */
export function peerNow () {
  return Date.now() + skewMs
}

function noteDate (res) {
  const d = Date.parse(res.headers.get('date') ?? '')
  if (Number.isFinite(d)) skewMs = d - Date.now()
}

/**
 * Calls `path` (relative, e.g. `admin/network`) and answers the envelope's
 * `data`; a JSON body is sent for a non-undefined `body`. Throws ApiError.
 */
export async function api (method, path, { body, signal } = {}) {
  const headers = { ...authHeaders() }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
  noteDate(res)
  let env
  try {
    env = await res.json()
  } catch {
    throw new ApiError(res.status, `HTTP ${res.status}: the answer is not JSON`)
  }
  if (res.status === 401) emit({ type: 'unauthorized' })
  if (!res.ok || env.status !== 'ok') throw new ApiError(res.status, env.msg)
  return { data: env.data, msg: env.msg }
}

export const get = async (path, options) => (await api('GET', path, options)).data

/** A key's path segments, percent-encoded for a URL (the leading `/` dropped). */
export function keyPath (key) {
  return key.replace(/^\//, '').split('/').map(encodeURIComponent).join('/')
}

/** Where a key is downloaded from (get_key needs no token). */
export function keyUrl (key) {
  return `get_key/${keyPath(key)}`
}

/**
 * PUTs a file to add_key with upload progress (fetch has none, hence XHR);
 * `onProgress(fraction)`. Resolves with the envelope's msg, rejects with ApiError.
 */
export function upload (key, file, { temporal, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    const query = temporal === undefined || temporal === '' ? '' : `?temporal=${encodeURIComponent(temporal)}`
    xhr.open('PUT', `add_key/${keyPath(key)}${query}`)
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.upload.onprogress = e => { if (e.lengthComputable) onProgress?.(e.loaded / e.total) }
    xhr.onload = () => {
      let env = null
      try { env = JSON.parse(xhr.responseText) } catch {}
      if (xhr.status === 401) emit({ type: 'unauthorized' })
      if (xhr.status >= 200 && xhr.status < 300) resolve(env?.msg ?? 'key added')
      else reject(new ApiError(xhr.status, env?.msg ?? `HTTP ${xhr.status}`))
    }
    xhr.onerror = () => reject(new ApiError(0, 'the upload was cut (network error)'))
    xhr.send(file)
  })
}
