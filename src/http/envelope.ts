import type { FastifyReply } from 'fastify'

/** Pulzar's answer shape: every JSON answer is exactly these three keys. */
export interface Envelope<T = unknown> { data: T | null, status: 'ok' | 'ko', msg: string }

export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET,HEAD,OPTIONS,POST,PUT,DELETE'
} as const

export const OPTIONS_HEADERS = {
  ...CORS_HEADERS,
  'access-control-allow-headers': 'Origin, X-Requested-With, Content-Type, Accept, Authorization'
} as const

export function ok<T> (data: T | null, msg = ''): Envelope<T> {
  return { data, status: 'ok', msg }
}

export function ko (msg: string, data: unknown = null): Envelope {
  return { data, status: 'ko', msg }
}

/**
 * Sets an envelope answer's status and JSON type and returns its text, for an
 * async handler to return: fastify sends a returned payload at once, whereas
 * a returned or awaited reply is a thenable that waits for the response to
 * finish (an end-of-stream listener per request). Hot routes serialize their
 * constant answers once, with `JSON.stringify(ok(...))` at mount time.
 */
export function envelopePayload (reply: FastifyReply, status: number, json: string): string {
  reply.code(status).type('application/json')
  return json
}

/** Sends an envelope as JSON with the given status. */
export function sendEnvelope (reply: FastifyReply, status: number, body: Envelope): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body))
}
