/** Built-in extension names; a seed cannot take them. */
export const BUILTIN_NAMES = ['search', 'ocr', 'imagematching', 'example'] as const
/** Longest an extension call may run, in ms. */
export const CALL_TIMEOUT_MS = 60_000
/** Longest an error message an extension throws may be in an answer, in characters. */
export const MAX_ERROR_MESSAGE = 300
/** Largest base image imagematching downloads, in bytes. */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024
/** Largest decoded image, in pixels (about 8000 x 6000): guards memory against decompression bombs. */
export const MAX_IMAGE_PIXELS = 48_000_000
/** Longest imagematching waits for an `image_url` download, in ms. */
export const IMAGE_FETCH_TIMEOUT_MS = 15_000
/** Keys read per page while the search index is built from the store's listing. */
export const INDEX_PAGE = 5000
