import sharp from 'sharp'

/** A seeded 32-bit LCG: the same images on every run. */
function lcg (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 }
}

/** A PNG of coloured circles and text on a pale ground: textured everywhere, so a crop of it has one best match. */
export async function scenePng (seed: number, width: number, height: number): Promise<Buffer> {
  const rnd = lcg(seed)
  const colour = (): string => `rgb(${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)})`
  let shapes = ''
  for (let i = 0; i < 60; i++) {
    const x = Math.floor(rnd() * width); const y = Math.floor(rnd() * height); const r = 10 + Math.floor(rnd() * 50)
    shapes += i % 2 === 0
      ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${colour()}"/>`
      : `<text x="${x}" y="${y}" font-size="${r}" font-family="DejaVu Sans" fill="${colour()}">pmz${i}</text>`
  }
  return await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#ddeeff"/>${shapes}</svg>`)).png().toBuffer()
}

/** A JPEG of seeded noise: it barely compresses, so its size follows its dimensions (1024x768 at quality 90 is about 640 KB). */
export async function noiseJpeg (seed: number, width: number, height: number, quality = 90): Promise<Buffer> {
  const rnd = lcg(seed)
  const raw = Buffer.alloc(width * height * 3)
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rnd() * 256)
  return await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer()
}
