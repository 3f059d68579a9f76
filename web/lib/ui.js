// Shared pieces of the views: htm bound to preact, hooks, small components and formats.
import { h } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'
import { onAuth, peerNow } from './api.js'
import { live, POLL_MS } from './live.js'

export const html = htm.bind(h)

/** Re-renders on every change of the live state; answers it. */
export function useLive () {
  const [, setVersion] = useState(0)
  useEffect(() => live.on('change', s => setVersion(s.version)), [])
  return live.state
}

/**
 * Loads `fn()` now, again when `deps` change, on `reload()`, when the token changes, and every
 * `pollMs` (default POLL_MS) while the page has no event stream, or every
 * `everyMs` whatever the stream (what it does not carry).
 * Answers {data, error, loading, reload}. A late answer of an older load is dropped.
 */
export function useLoad (fn, deps, { everyMs, pollMs = POLL_MS } = {}) {
  const [s, setS] = useState({ data: undefined, error: null, loading: true })
  const seq = useRef(0)
  const reload = useCallback(async () => {
    const n = ++seq.current
    try {
      const data = await fn()
      if (n === seq.current) setS({ data, error: null, loading: false })
    } catch (err) {
      if (n === seq.current) setS(old => ({ data: old.data, error: err.message, loading: false }))
    }
  }, deps)
  useEffect(() => {
    void reload()
    const timer = setInterval(() => {
      if (document.hidden) return
      if (everyMs !== undefined || live.polling()) void reload()
    }, everyMs ?? pollMs)
    // A token just given: read again what its absence refused.
    const off = onAuth(e => { if (e.type === 'token') void reload() })
    return () => { clearInterval(timer); off() }
  }, [reload])
  return { ...s, reload }
}

/** Calls `fn` at most once per `ms` (trailing), for reloads that events trigger. */
export function useThrottled (fn, ms = 500) {
  const timer = useRef()
  const latest = useRef(fn)
  latest.current = fn
  useEffect(() => () => clearTimeout(timer.current), [])
  return useCallback(() => {
    timer.current ??= setTimeout(() => { timer.current = undefined; latest.current() }, ms)
  }, [ms])
}

// One line of feedback for actions (launch, delete, cancel...), shown by <Notices/>.
const noticeListeners = new Set()
let noticeSeq = 0
export function notify (text, kind = 'ok') {
  const n = { id: ++noticeSeq, text, kind }
  for (const fn of noticeListeners) fn(n)
}

export function Notices () {
  const [list, setList] = useState([])
  useEffect(() => {
    const fn = n => {
      setList(l => [...l.slice(-3), n])
      setTimeout(() => setList(l => l.filter(x => x.id !== n.id)), n.kind === 'error' ? 8_000 : 4_000)
    }
    noticeListeners.add(fn)
    return () => noticeListeners.delete(fn)
  }, [])
  return html`<div class="notices" role="status">${list.map(n => html`<div key=${n.id} class=${`notice ${n.kind}`}>${n.text}</div>`)}</div>`
}

/** Runs an action, tells its msg (or `okText`; '' says nothing) or its error. */
export async function act (fn, okText) {
  try {
    const res = await fn()
    if (okText !== '') notify(okText ?? res?.msg ?? 'done')
    return res
  } catch (err) {
    notify(err.message, 'error')
    return undefined
  }
}

export function ErrorLine ({ error }) {
  return error === null || error === undefined ? null : html`<p class="error">${error}</p>`
}

/** A progress bar with its text (the fraction as a percentage when no text). */
export function Progress ({ fraction, text }) {
  if (fraction === null || fraction === undefined) return html`<span class="muted">${text ?? '—'}</span>`
  return html`<span class="progress"><progress max="1" value=${fraction}></progress> <span class="ptext">${text ? `${pct(fraction)} ${text}` : pct(fraction)}</span></span>`
}

export function StateBadge ({ state }) {
  return html`<span class=${`badge state-${state}`}>${state}</span>`
}

export const pct = f => `${Math.round(f * 1000) / 10}%`

export function bytes (n) {
  if (n === null || n === undefined) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

/** A time of the API as ms: ISO, or Pulzar's `2026-11-22 17:54:00+0000`. */
export function parseTime (t) {
  if (t === null || t === undefined) return NaN
  if (typeof t === 'number') return t
  return Date.parse(t.replace(/^(\d{4}-\d\d-\d\d) /, '$1T').replace(/([+-]\d\d)(\d\d)$/, '$1:$2'))
}

/** "3 s ago", "in 2 min" against the peer's clock. */
export function ago (t) {
  const ms = parseTime(t)
  if (!Number.isFinite(ms)) return '—'
  const d = peerNow() - ms
  const s = Math.round(Math.abs(d) / 1000)
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86400 ? `${Math.round(s / 360) / 10} h` : `${Math.round(s / 8640) / 10} d`
  return d >= 0 ? `${text} ago` : `in ${text}`
}

export function when (t) {
  const ms = parseTime(t)
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : '—'
}

/** Re-renders every `ms` (for ages that tick). */
export function useTick (ms = 1000) {
  const [, set] = useState(0)
  useEffect(() => {
    const t = setInterval(() => set(x => x + 1), ms)
    return () => clearInterval(t)
  }, [ms])
}

export const FINAL_JOB_STATES = new Set(['ready', 'failed', 'cancelled'])
