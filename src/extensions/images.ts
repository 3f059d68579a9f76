import sharp, { type OutputInfo, type Sharp } from 'sharp'
import { badRequest } from '../common/errors.js'
import { MAX_IMAGE_PIXELS } from './constants.js'

/** A greyscale image, one float per pixel (0-255), row by row. */
export interface GrayImage {
  width: number
  height: number
  data: Float32Array
}

/** sharp with pmz's limits; transparent pixels are laid on white, as a viewer shows them. */
function open (bytes: Buffer): Sharp {
  return sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' }).flatten({ background: '#ffffff' })
}

/** Turns sharp's decode failures into a 400 naming what was not an image. */
function notAnImage (what: string, err: unknown): Error {
  const message = (err as Error)?.message ?? ''
  if (/pixel limit/i.test(message)) return badRequest(`${what} is larger than ${MAX_IMAGE_PIXELS} pixels`)
  return badRequest(`${what} is not an image`, { reason: message.split('\n')[0] })
}

/** Decodes any image sharp reads (PNG, JPEG, WebP, TIFF, GIF, SVG, ...) to greyscale floats. */
export async function decodeGray (bytes: Buffer, what: string): Promise<GrayImage> {
  let out: { data: Buffer, info: OutputInfo }
  try {
    out = await open(bytes).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true })
  } catch (err) {
    throw notAnImage(what, err)
  }
  const { width, height, channels } = out.info
  const data = new Float32Array(width * height)
  for (let i = 0; i < data.length; i++) data[i] = out.data[i * channels]
  return { width, height, data }
}

/**
 * The image as Tesseract should read it: greyscale, inverted on request
 * (light text on a dark ground), as an uncompressed PNG (the cheapest
 * encoding Tesseract's reader takes; the decode also validates the body).
 */
export async function ocrInput (bytes: Buffer, invert: boolean): Promise<Buffer> {
  try {
    let img = open(bytes).toColourspace('b-w')
    if (invert) img = img.negate({ alpha: false })
    return await img.png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer()
  } catch (err) {
    throw notAnImage('the body', err)
  }
}
