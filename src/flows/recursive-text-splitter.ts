import type { TextSplitter } from './text-splitter.js';

export interface RecursiveTextSplitterOptions {
  /** Maximum chunk length in characters (default 1000). */
  readonly chunkSize?: number;
  /** Characters repeated from the end of one chunk at the start of the next (default 150), so a passage cut in two is still found whole in one of them. */
  readonly chunkOverlap?: number;
  /** Tried in order: paragraphs, lines, sentences, words, characters. */
  readonly separators?: readonly string[];
}

const DEFAULT_SEPARATORS = ['\n\n', '\n', '. ', '? ', '! ', '; ', ', ', ' ', ''] as const;

/** `text` cut after each `separator`, keeping it, so joining the pieces gives `text` back. */
function splitKeeping(text: string, separator: string): string[] {
  const parts = text.split(separator);
  return parts.map((p, i) => (i < parts.length - 1 ? p + separator : p)).filter((p) => p !== '');
}

/**
 * The recursive character-splitting strategy (paragraph → line → sentence →
 * word → character, merging small pieces up to `chunkSize` with overlap), as
 * popularised by LangChain's RecursiveCharacterTextSplitter. An interim
 * in-house version behind {@link TextSplitter}: the intended replacement is
 * `@langchain/textsplitters`, once added as a dependency.
 *
 * @example
 * const chunks = await new RecursiveTextSplitter({ chunkSize: 800, chunkOverlap: 100 }).split(markdown);
 */
export class RecursiveTextSplitter implements TextSplitter {
  readonly chunkSize: number;
  readonly chunkOverlap: number;
  readonly #separators: readonly string[];

  /** @throws RangeError when chunkSize < 1 or the overlap is not smaller than chunkSize */
  constructor(options: RecursiveTextSplitterOptions = {}) {
    this.chunkSize = options.chunkSize ?? 1000;
    this.chunkOverlap = options.chunkOverlap ?? 150;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new RangeError('chunkSize must be a positive integer');
    if (!Number.isInteger(this.chunkOverlap) || this.chunkOverlap < 0 || this.chunkOverlap >= this.chunkSize) {
      throw new RangeError('chunkOverlap must be an integer from 0 to chunkSize - 1');
    }
    this.#separators = options.separators ?? DEFAULT_SEPARATORS;
  }

  async split(text: string): Promise<string[]> {
    return this.#split(text.replaceAll('\r\n', '\n'), this.#separators)
      .map((c) => c.trim())
      .filter((c) => c !== '');
  }

  #split(text: string, separators: readonly string[]): string[] {
    const index = separators.findIndex((s) => s === '' || text.includes(s));
    const separator = index === -1 ? '' : (separators[index] ?? '');
    const rest = index === -1 ? [] : separators.slice(index + 1);
    const pieces = separator === '' ? [...text] : splitKeeping(text, separator);
    const chunks: string[] = [];
    let small: string[] = [];
    for (const piece of pieces) {
      if (piece.length <= this.chunkSize) {
        small.push(piece);
        continue;
      }
      chunks.push(...this.#merge(small));
      small = [];
      chunks.push(...(rest.length > 0 ? this.#split(piece, rest) : [piece]));
    }
    chunks.push(...this.#merge(small));
    return chunks;
  }

  /** Greedily packs pieces into chunks of at most chunkSize, starting each new chunk with up to chunkOverlap characters of the previous one. */
  #merge(pieces: readonly string[]): string[] {
    const chunks: string[] = [];
    const current: string[] = [];
    let total = 0;
    for (const piece of pieces) {
      if (total + piece.length > this.chunkSize && current.length > 0) {
        chunks.push(current.join(''));
        while (current.length > 0 && (total > this.chunkOverlap || total + piece.length > this.chunkSize)) {
          total -= current.shift()?.length ?? 0;
        }
      }
      current.push(piece);
      total += piece.length;
    }
    if (current.length > 0) chunks.push(current.join(''));
    return chunks;
  }
}
